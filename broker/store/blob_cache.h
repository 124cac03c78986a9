// The content-addressed blob cache (invariants I2 and I8 in docs/architecture.md): a
// blob is written by the broker alone into an unnamed O_TMPFILE in the blobs directory,
// hashed as its bytes land, and linked under its name only when digest and size match.
// Nothing partial or wrong is ever visible under a final name, no helper ever holds a
// writable fd to a cache file, and concurrent writers of one blob both succeed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/fd.h"
#include "base/result.h"
#include "base/sha256.h"
#include "broker/store/cache_layout.h"

namespace banger::broker {

class BlobCache;

// One blob on its way in. Its bytes come from the broker (Append) or from a pipe whose
// other end a helper holds (ReceiveFrom); either way only the broker writes the file.
class IncomingBlob {
 public:
  IncomingBlob(IncomingBlob&&) noexcept = default;
  IncomingBlob& operator=(IncomingBlob&&) noexcept = default;

  // The unnamed file, for read-only views while it fills (ReopenReadOnly).
  int fd() const { return file_.get(); }
  uint64_t received() const { return received_; }
  const std::string& digest() const { return digest_; }
  uint64_t size() const { return size_; }

  Result<void> Append(std::string_view bytes);
  // Moves what `pipe` holds now into the file. A byte past the declared size is an error.
  Result<Spliced> ReceiveFrom(int pipe);
  // Checks that exactly the declared bytes arrived and hash to the digest, then links the
  // file in. Errors name the digest and what it is; nothing is left under the name.
  Result<void> Commit();

 private:
  friend class BlobCache;
  IncomingBlob(const BlobCache& cache, UniqueFd file, std::string digest, uint64_t size, std::string what)
      : cache_(&cache), file_(std::move(file)), digest_(std::move(digest)), size_(size), what_(std::move(what)) {}
  Result<void> HashLanded(uint64_t at_least);
  Result<void> Landed(uint64_t bytes);

  const BlobCache* cache_;
  UniqueFd file_;
  std::string digest_;
  uint64_t size_;
  std::string what_;  // "layer", "config", "manifest", "bundle of NAME"
  uint64_t received_ = 0, hashed_ = 0;
  uint64_t written_back_ = 0;  // writeback started up to here, a page boundary
  Sha256 hash_;
};

class BlobCache {
 public:
  explicit BlobCache(CacheLayout layout) : layout_(std::move(layout)) {}
  // CacheLayout::Open(cache_root), then the cache.
  static Result<BlobCache> Open(const std::string& cache_root);

  const CacheLayout& layout() const { return layout_; }

  // A read-only fd for a cached blob, if one is there with the expected size.
  std::optional<UniqueFd> OpenBlob(const std::string& digest, uint64_t size) const;
  bool Contains(const std::string& digest, uint64_t size) const;

  // Blobs a tenant of bangerd may be served from the cache: those a tenant's anonymous
  // fetch downloaded (under the tenant's egress rule), marked once verified and linked.
  // Anything else (root's, a credentialed fetch's, an older banger's) a tenant downloads
  // again, so the registry answers that tenant first (docs/multi-tenant.md, "Credentials").
  Result<void> MarkShared(const std::vector<std::string>& digests) const;
  bool Shared(const std::string& digest) const;

  // A new unnamed file in the blobs directory, to become `digest` (`size` bytes, `what`
  // names it in errors: layer, config, manifest) once IncomingBlob::Commit verifies it.
  Result<IncomingBlob> Begin(const std::string& digest, uint64_t size, const std::string& what) const;

 private:
  friend class IncomingBlob;
  // Links the verified file in as `digest`.
  Result<void> Link(int file, const std::string& digest, uint64_t size, const std::string& what) const;

  CacheLayout layout_;
};

}  // namespace banger::broker
