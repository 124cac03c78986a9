// What a tenant of bangerd may pull and keep (docs/multi-tenant.md, "Policy"): the
// registries and repositories (glob patterns over REGISTRY/REPOSITORY), how many images
// and bytes it may hold, and how many requests it may make a minute. The config sets them
// for every tenant (tenant_registries, ...) and for one user or group
// (tenant.alice.registries, tenant.@devs.max_images); the most specific wins.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"

namespace banger::broker {

inline constexpr size_t kMaxRegistryPatterns = 64;

struct TenantLimits {
  std::optional<std::vector<std::string>> registries;  // unset: any
  std::optional<uint64_t> max_images;
  std::optional<uint64_t> max_bytes;
  std::optional<uint64_t> requests_per_minute;
  std::optional<uint64_t> max_requests;  // at once; unset: the config's tenant_max_requests

  // Each field `other` sets replaces this one's.
  void Overlay(const TenantLimits& other);
};

// The fields a config key may set: "registries", "max_images", "max_bytes",
// "requests_per_minute", "max_requests" (the last for one user or group only: every
// tenant's is tenant_max_requests).
const std::vector<std::string>& TenantLimitFields();
// Sets `field` from its config text; `parse_size` reads byte sizes ("50GiB").
Result<void> SetTenantLimit(TenantLimits& limits, const std::string& field, const std::string& value,
                            Result<uint64_t> (*parse_size)(const std::string&));

// Whether REGISTRY/REPOSITORY matches one of `patterns` (fnmatch globs; '*' does not cross
// a '/', so "docker.io/library/*" is one namespace).
bool RegistryAllowed(const std::vector<std::string>& patterns, const std::string& registry_repository);

// A tenant override's name: a user, or "@group".
bool IsValidTenantName(const std::string& name);

}  // namespace banger::broker
