// The content-addressed blob cache (invariant I2 in docs/architecture.md): a blob is
// written into an unnamed O_TMPFILE in the blobs directory, hashed by the broker, and
// linked under its name only when digest and size match. Nothing partial or wrong is
// ever visible under a final name; concurrent writers of one blob both succeed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/fd.h"
#include "base/result.h"
#include "broker/store/cache_layout.h"

namespace banger::broker {

class BlobCache {
 public:
  explicit BlobCache(CacheLayout layout) : layout_(std::move(layout)) {}
  // CacheLayout::Open(cache_root), then the cache.
  static Result<BlobCache> Open(const std::string& cache_root);

  const CacheLayout& layout() const { return layout_; }

  // A read-only fd for a cached blob, if one is there with the expected size.
  std::optional<UniqueFd> OpenBlob(const std::string& digest, uint64_t size) const;
  bool Contains(const std::string& digest, uint64_t size) const;

  // An unnamed, writable file in the blobs directory, for a download to fill.
  Result<UniqueFd> CreateIncoming() const;

  // Hashes the incoming file and links it in as `digest`. Errors name the digest and
  // `what` it is (layer, config, manifest); on any error nothing is left under the name.
  Result<void> Commit(const UniqueFd& incoming, const std::string& digest, uint64_t size,
                      const std::string& what) const;

 private:
  CacheLayout layout_;
};

}  // namespace banger::broker
