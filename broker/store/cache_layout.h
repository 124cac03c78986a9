// Every path of the cache, in one place (docs/architecture.md, "The cache"):
//
//   <cache>/oci/blobs/sha256/<hex>          verified blobs, named by the sha256 of their bytes
//   <cache>/oci/lock                        shared by a pull recording a lease, exclusive for a prune
//   <cache>/oci/leases/<pid>-<random>       one per running pull: the digests it uses, flocked
//   <cache>/oci/downloads/<hex>.lock        held by whoever downloads that blob now
//   <cache>/oci/plans/<hex>-<platform>.json what a digest reference resolved to, for offline pulls
//   <cache>/oci/unpacked/<key>/             the unpacker's output for an image (unpacked_cache.h)
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace banger::broker {

class CacheLayout {
 public:
  // `cache_root` must be absolute. Open also creates the blobs directory.
  static Result<CacheLayout> Open(const std::string& cache_root);
  // The paths only, creating nothing (for a prune of a cache that may not exist).
  static Result<CacheLayout> At(const std::string& cache_root);

  const std::string& oci_dir() const { return oci_; }
  std::string blobs_dir() const { return oci_ + "/blobs/sha256"; }
  // The digest must be valid (IsValidDigest): its hex is the file name.
  std::string BlobPath(std::string_view digest) const;
  std::string lock_path() const { return oci_ + "/lock"; }
  std::string leases_dir() const { return oci_ + "/leases"; }
  std::string downloads_dir() const { return oci_ + "/downloads"; }
  std::string DownloadLockPath(std::string_view digest) const;
  std::string plans_dir() const { return oci_ + "/plans"; }
  // `key` is made of [a-z0-9_-] by PlanRecords.
  std::string PlanPath(const std::string& key) const { return plans_dir() + "/" + key + ".json"; }
  std::string unpacked_dir() const { return oci_ + "/unpacked"; }
  // Empty files named by digest hex: blobs a tenant may be served from the cache (blob_cache.h).
  std::string shared_dir() const { return oci_ + "/shared"; }

 private:
  explicit CacheLayout(std::string oci) : oci_(std::move(oci)) {}
  std::string oci_;
};

}  // namespace banger::broker
