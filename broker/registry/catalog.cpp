#include "broker/registry/catalog.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/json.h"
#include "broker/store/image_store.h"
#include "catalog_embedded.h"

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

Result<std::string> ReadSource(const std::string& source, const UrlReader& read_url) {
  if (IsUrl(source)) return read_url(source, kMaxCatalogBytes);
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
      // A negative or fractional size would convert, not fail: only a whole number passes.
      const auto& size = e.at("size");
      if (size.is_number() && !size.is_number_unsigned()) return bad("entry '" + entry.name + "' has a size that is not a whole number");
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

Result<Catalog> LoadCatalog(const CatalogSources& sources, const UrlReader& read_url) {
  std::string source;
  for (const std::string* given : {&sources.flag, &sources.environment, &sources.config}) {
    if (source.empty()) source = *given;
  }
  struct stat st {};
  if (source.empty() && ::stat(kSystemCatalog, &st) == 0) source = kSystemCatalog;
  if (source.empty()) return ParseCatalog(kEmbeddedCatalog, "(built in)");
  BANGER_ASSIGN_OR_RETURN(std::string text, ReadSource(source, read_url));
  return ParseCatalog(text, source);
}

bool LooksLikeCatalogName(const std::string& name) {
  return !name.empty() && name.find_first_of("/:@.") == std::string::npos;
}

}  // namespace banger::broker
