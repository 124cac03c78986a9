// The image catalog: names that take the bundle fast path instead of a registry.
// {"version": 1, "entries": [{"name", "distro", "arch", "kernel_ref", "url", "sha256",
// "size", "description"}]}, read from --catalog (a path or URL), $BANGER_CATALOG, the
// config's `catalog`, /etc/banger/catalog.json, or else the copy built into banger
// (assets/catalog.json). Every field is checked before anything uses it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace banger::broker {

inline constexpr size_t kMaxCatalogEntries = 10000;

// Listed once for the typed decoder (ipc/fields.h): every field has a type and a bound,
// an unknown key is refused.
struct CatalogEntry {
  std::string name, distro, arch, kernel_ref, url, sha256, description;
  uint64_t size = 0;
  template <class Self, class V>
  static void Fields(Self& s, V& v) {
    v.String("name", s.name, 255).String("url", s.url, 8192).String("sha256", s.sha256, 100);
    v.Uint("size", s.size, uint64_t{1} << 40);  // a bundle of a TiB is a lie, not an image
    v.OptionalString("distro", s.distro, 100).OptionalString("arch", s.arch, 100);
    v.OptionalString("kernel_ref", s.kernel_ref, 255).OptionalString("description", s.description, 1000);
  }
};

struct Catalog {
  std::string source;  // where it came from, for messages
  std::vector<CatalogEntry> entries;
  const CatalogEntry* Find(const std::string& name) const;
};

// Checks every field: names as image names, sha256 as 64 hex digits, a size, an http(s) URL.
Result<Catalog> ParseCatalog(std::string_view text, const std::string& source);

// Where a catalog may come from, first one set wins; then /etc/banger/catalog.json,
// then the copy built into banger.
struct CatalogSources {
  std::string flag;         // --catalog
  std::string environment;  // $BANGER_CATALOG
  std::string config;       // the config's `catalog`
};
// Reads a URL (at most `max_bytes`); the pull room gives one that uses the sandboxed fetcher.
using UrlReader = std::function<Result<std::string>(const std::string& url, uint64_t max_bytes)>;

Result<Catalog> LoadCatalog(const CatalogSources& sources, const UrlReader& read_url);

// Whether `name` could only be meant as a catalog name (no registry, path, tag or digest),
// so a catalog that cannot be read must not let it fall through to a registry.
bool LooksLikeCatalogName(const std::string& name);

}  // namespace banger::broker
