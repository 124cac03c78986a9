#include "broker/registry/catalog.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>


#include "ipc/fields.h"
#include "broker/store/image_store.h"
#include "catalog_embedded.h"

namespace banger::broker {
namespace {


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

namespace {

// The document as it is on disk: {"version": 1, "entries": [...]}.
struct CatalogDocument {
  static constexpr const char* kName = "catalog";
  uint64_t version = 0;
  std::vector<CatalogEntry> entries;
  template <class Self, class V>
  static void Fields(Self& s, V& v) {
    v.Uint("version", s.version).Objects("entries", s.entries, kMaxCatalogEntries);
  }
};

}  // namespace

Result<Catalog> ParseCatalog(std::string_view text, const std::string& source) {
  auto bad = [&](const std::string& what) { return Error{ErrorCode::kMalformed, "catalog " + source + ": " + what}; };
  auto doc = ipc::Decode<CatalogDocument>(text);
  if (!doc) return bad(doc.error().message);
  if (doc->version != 1) return bad("version " + std::to_string(doc->version) + " is not 1");
  Catalog catalog;
  catalog.source = source;
  for (CatalogEntry& entry : doc->entries) {
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
