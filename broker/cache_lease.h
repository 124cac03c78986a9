// References from running pulls into the blob cache, so `banger image cache prune`
// never removes a blob a pull relies on (invariant I2), and one download per blob when
// pulls run at once.
//
// <cache>/oci/lock        shared by a pull while it records a lease, exclusive for a prune
// <cache>/oci/leases/*    one file per running pull: the digests it uses; its owner holds
//                         an flock on it for its lifetime, so a free lock marks a dead pull
// <cache>/oci/downloads/<hex>.lock   held by whoever downloads that blob right now
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/fd.h"
#include "base/result.h"

namespace banger::broker {

class CacheLease {
 public:
  static Result<std::unique_ptr<CacheLease>> Take(const std::string& oci_dir);
  ~CacheLease();
  CacheLease(const CacheLease&) = delete;
  CacheLease& operator=(const CacheLease&) = delete;

  // Adds digests to the lease. Call it before checking the cache for them: a prune
  // that starts afterwards keeps them, one already running finishes first.
  Result<void> Hold(const std::vector<std::string>& digests);

 private:
  CacheLease(std::string oci_dir, std::string path, UniqueFd fd)
      : oci_dir_(std::move(oci_dir)), path_(std::move(path)), fd_(std::move(fd)) {}
  std::string oci_dir_;
  std::string path_;
  UniqueFd fd_;
};

// The exclusive right to download one blob into the cache, or nothing when another
// banger is downloading it now (ask again later).
Result<std::optional<UniqueFd>> TryClaimDownload(const std::string& oci_dir, const std::string& digest);

struct PruneReport {
  uint64_t bytes = 0;
  uint64_t blobs = 0;
  uint64_t kept_in_use = 0;  // blobs a running pull holds
  uint64_t unpacked = 0;     // images in the unpacked cache
};

// Removes every cached blob (and remembered plan) no running pull holds; with
// `dry_run`, only counts them.
Result<PruneReport> PruneCache(const std::string& oci_dir, bool dry_run);

}  // namespace banger::broker
