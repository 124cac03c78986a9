// What a digest reference resolved to (its manifest, config and layers), remembered so
// that pulling it again with every blob cached needs no network: CacheLayout::PlanPath.
// A record is read back with the same strict decoder as the fetcher's plan, and only
// ever names blobs whose bytes are verified again when they are used.
#pragma once

#include <optional>
#include <string>

#include "base/result.h"
#include "broker/store/cache_layout.h"
#include "ipc/fetch_protocol.h"

namespace banger::broker {

class PlanRecords {
 public:
  explicit PlanRecords(CacheLayout layout) : layout_(std::move(layout)) {}

  // `platform` is what the pull asked for ("" when nothing was asked).
  Result<void> Save(const std::string& manifest_digest, const std::string& platform, const ipc::ResolvedPlan& plan) const;
  std::optional<ipc::ResolvedPlan> Load(const std::string& manifest_digest, const std::string& platform,
                                        uint64_t max_layers) const;

 private:
  std::string PathFor(const std::string& manifest_digest, const std::string& platform) const;
  CacheLayout layout_;
};

}  // namespace banger::broker
