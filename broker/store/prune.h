// `image cache prune`'s work: every cached blob no running pull holds goes, with the
// unpacked images and the remembered plans, under the cache lock taken exclusively, so a
// pull recording a lease waits for it and a prune never breaks a pull (invariant I2).
#pragma once

#include <cstdint>

#include "base/result.h"
#include "broker/store/cache_layout.h"

namespace banger::broker {

struct PruneReport {
  uint64_t bytes = 0;
  uint64_t blobs = 0;
  uint64_t kept_in_use = 0;  // blobs a running pull holds
  uint64_t unpacked = 0;     // images in the unpacked cache
};

// With `dry_run`, only counts what would go.
Result<PruneReport> PruneCache(const CacheLayout& layout, bool dry_run);

}  // namespace banger::broker
