// References from running pulls into the blob cache, so a prune never removes a blob a
// pull relies on (invariant I2), and one download per blob when pulls run at once. The
// files are CacheLayout's lock, leases/ and downloads/.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/fd.h"
#include "base/result.h"
#include "broker/store/cache_layout.h"

namespace banger::broker {

// One running pull's lease: a file listing the digests it uses, flocked for its lifetime
// (so a free lock marks a dead pull) and removed when it ends.
class CacheLease {
 public:
  static Result<std::unique_ptr<CacheLease>> Take(const CacheLayout& layout);
  ~CacheLease();
  CacheLease(const CacheLease&) = delete;
  CacheLease& operator=(const CacheLease&) = delete;

  // Adds digests to the lease. Call it before checking the cache for them: a prune
  // that starts afterwards keeps them, one already running finishes first.
  Result<void> Hold(const std::vector<std::string>& digests);

 private:
  CacheLease(CacheLayout layout, std::string path, UniqueFd fd)
      : layout_(std::move(layout)), path_(std::move(path)), fd_(std::move(fd)) {}
  CacheLayout layout_;
  std::string path_;
  UniqueFd fd_;
};

// The digests every live lease holds; leases of dead pulls are removed (unless `dry_run`).
// Call it under the cache lock, taken exclusively (prune.h).
Result<std::vector<std::string>> HeldDigests(const CacheLayout& layout, bool dry_run);

// The exclusive right to download one blob into the cache, or nothing when another
// banger is downloading it now (ask again later).
Result<std::optional<UniqueFd>> TryClaimDownload(const CacheLayout& layout, const std::string& digest);

}  // namespace banger::broker
