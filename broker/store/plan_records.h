// What a digest reference resolved to (its manifest, config and layers), remembered so
// that pulling it again with every blob cached needs no network: CacheLayout::PlanPath.
// A record is keyed by the registry and repository it came from as well as the digest
// and platform: what one registry said a digest resolves to is never served for another.
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

  // Where a record comes from: the reference's registry, repository and digest, and the
  // platform the pull asked for ("" when nothing was asked).
  struct Key {
    std::string registry, repository, digest, platform;
  };
  Result<void> Save(const Key& key, const ipc::ResolvedPlan& plan) const;
  std::optional<ipc::ResolvedPlan> Load(const Key& key, uint64_t max_layers) const;

 private:
  std::string PathFor(const Key& key) const;
  CacheLayout layout_;
};

}  // namespace banger::broker
