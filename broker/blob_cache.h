// The content-addressed blob cache, <cache>/oci/blobs/sha256/<hex> (invariant I2): a
// blob is written into an anonymous O_TMPFILE in the cache directory, hashed by the
// broker, and linked under its name only when digest and size match. Nothing partial or
// wrong is ever visible under a final name; concurrent writers of one blob both succeed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/fd.h"
#include "base/result.h"
#include "broker/user_dirs.h"

namespace banger::broker {

class BlobCache {
 public:
  // Creates the directory tree when missing.
  static Result<BlobCache> Open(const std::string& cache_root);

  const std::string& blobs_dir() const { return blobs_dir_; }
  // <cache>/oci: the blobs, leases, download locks and plans live under it.
  std::string oci_dir() const { return blobs_dir_.substr(0, blobs_dir_.size() - std::string("/blobs/sha256").size()); }
  std::string PathFor(const std::string& digest) const;

  // A read-only fd for a cached blob, if one is there with the expected size.
  std::optional<UniqueFd> OpenBlob(const std::string& digest, uint64_t size) const;
  bool Contains(const std::string& digest, uint64_t size) const;

  // An unnamed, writable file in the cache directory, for a child to fill.
  Result<UniqueFd> CreateIncoming() const;

  // Hashes the incoming file and links it in as `digest`. Errors name the digest; on any
  // error nothing is left under the final name.
  Result<void> Commit(const UniqueFd& incoming, const std::string& digest, uint64_t size,
                      const std::string& what) const;

 private:
  explicit BlobCache(std::string blobs_dir) : blobs_dir_(std::move(blobs_dir)) {}
  std::string blobs_dir_;
};



}  // namespace banger::broker
