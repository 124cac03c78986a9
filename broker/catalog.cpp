#include "broker/catalog.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "base/json.h"
#include "broker/config.h"
#include "broker/image_fetch.h"
#include "broker/image_store.h"
#include "catalog_embedded.h"
#include "ipc/channel.h"

namespace banger::broker {
namespace {

using nlohmann::json;

constexpr uint64_t kMaxCatalogBytes = 1 << 20;
constexpr const char* kSystemCatalog = "/etc/banger/catalog.json";

bool IsHex64(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool IsUrl(const std::string& s) { return s.rfind("https://", 0) == 0 || s.rfind("http://", 0) == 0; }

Result<std::string> ReadSource(const std::string& source) {
  if (IsUrl(source)) {
    UniqueFd sink(::memfd_create("banger-catalog", MFD_CLOEXEC));
    if (!sink) return Error::FromErrno("memfd_create");
    BANGER_TRY(DownloadUrl(source, kMaxCatalogBytes, sink.get()));
    ::lseek(sink.get(), 0, SEEK_SET);
    return ReadWholeFd(sink.get(), kMaxCatalogBytes, source);
  }
  UniqueFd fd(::open(source.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Error::FromErrno("reading the catalog " + source);
  return ReadWholeFd(fd.get(), kMaxCatalogBytes, source);
}

}  // namespace

const CatalogEntry* Catalog::Find(const std::string& name) const {
  for (const CatalogEntry& e : entries) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

Result<Catalog> ParseCatalog(std::string_view text, const std::string& source) {
  auto bad = [&](const std::string& what) { return Error{ErrorCode::kMalformed, "catalog " + source + ": " + what}; };
  auto parsed = ParseJsonBounded(text, 8);
  if (!parsed) return bad(parsed.error().message);
  const json& doc = *parsed;
  if (!doc.is_object() || !doc.contains("version") || doc["version"] != 1 || !doc.contains("entries") ||
      !doc["entries"].is_array()) {
    return bad("not a version 1 catalog ({\"version\": 1, \"entries\": [...]})");
  }
  Catalog catalog;
  catalog.source = source;
  for (const json& e : doc["entries"]) {
    if (!e.is_object()) return bad("an entry is not an object");
    CatalogEntry entry;
    try {
      entry.name = e.at("name").get<std::string>();
      entry.url = e.at("url").get<std::string>();
      entry.sha256 = e.at("sha256").get<std::string>();
      entry.size = e.at("size").get<uint64_t>();
      entry.distro = e.value("distro", "");
      entry.arch = e.value("arch", "");
      entry.kernel_ref = e.value("kernel_ref", "");
      entry.description = e.value("description", "");
    } catch (const json::exception&) {
      return bad("an entry lacks name, url, sha256 or size, or has one of the wrong type");
    }
    if (!IsValidImageName(entry.name)) return bad("entry name '" + entry.name.substr(0, 100) + "' is not a valid image name");
    if (!IsHex64(entry.sha256)) return bad("entry '" + entry.name + "' has a sha256 that is not 64 lowercase hex digits");
    if (entry.size == 0) return bad("entry '" + entry.name + "' has size 0");
    if (!IsUrl(entry.url)) return bad("entry '" + entry.name + "' has a URL that is not http(s)");
    if (!entry.kernel_ref.empty() && !IsValidImageName(entry.kernel_ref)) {
      return bad("entry '" + entry.name + "' has an invalid kernel_ref");
    }
    if (catalog.Find(entry.name) != nullptr) return bad("entry '" + entry.name + "' appears twice");
    catalog.entries.push_back(std::move(entry));
  }
  return catalog;
}

Result<Catalog> LoadCatalog(const std::string& explicit_source) {
  std::string source = explicit_source;
  if (source.empty()) {
    if (const char* env = std::getenv("BANGER_CATALOG"); env != nullptr && *env != '\0') source = env;
  }
  if (source.empty()) source = ActiveConfig().catalog;
  struct stat st;
  if (source.empty() && ::stat(kSystemCatalog, &st) == 0) source = kSystemCatalog;
  if (source.empty()) return ParseCatalog(kEmbeddedCatalog, "(built in)");
  BANGER_ASSIGN_OR_RETURN(std::string text, ReadSource(source));
  return ParseCatalog(text, source);
}

Result<uint64_t> DownloadUrl(const std::string& url, uint64_t max_bytes, int fd,
                             const std::function<void(uint64_t, uint64_t)>& progress, uint64_t expected_total) {
  BANGER_ASSIGN_OR_RETURN(security::SandboxedChild fetcher, StartFetcher(FetchOptions{}));
  ipc::Message request =
      ipc::Message::WithJson(ipc::MessageType::kFetchUrl, {{"id", 1}, {"url", url}, {"max_bytes", max_bytes}});
  request.fds.push_back(UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 0)));
  BANGER_TRY(fetcher.Send(request));
  for (;;) {
    BANGER_ASSIGN_OR_RETURN(ipc::Message reply, fetcher.ReceiveExpecting({ipc::MessageType::kBlobProgress,
                                                                           ipc::MessageType::kBlobDone},
                                                                          15 * 60 * 1000));
    BANGER_ASSIGN_OR_RETURN(json body, reply.Json());
    const uint64_t bytes = body.is_object() ? body.value("bytes", uint64_t{0}) : 0;
    if (progress) progress(bytes, expected_total);
    if (reply.type == ipc::MessageType::kBlobDone) {
      (void)fetcher.Send(ipc::Message::Make(ipc::MessageType::kShutdown));
      fetcher.Wait(10000);
      return bytes;
    }
  }
}

bool LooksLikeCatalogName(const std::string& name) {
  return !name.empty() && name.find_first_of("/:@.") == std::string::npos;
}

}  // namespace banger::broker
