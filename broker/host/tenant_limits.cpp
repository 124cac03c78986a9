#include "broker/host/tenant_limits.h"

#include "broker/host/accounts.h"
#include "broker/host/config.h"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace banger::broker {
namespace {

bool IsPattern(const std::string& pattern) {
  if (pattern.empty() || pattern.size() > 255 || pattern.find('/') == std::string::npos) return false;
  for (char c : pattern) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || std::string_view("./-_:*?[]!").find(c) != std::string_view::npos)) {
      return false;
    }
  }
  return true;
}

}  // namespace

void TenantLimits::Overlay(const TenantLimits& other) {
  if (other.registries) registries = other.registries;
  if (other.max_images) max_images = other.max_images;
  if (other.max_bytes) max_bytes = other.max_bytes;
  if (other.requests_per_minute) requests_per_minute = other.requests_per_minute;
  if (other.max_requests) max_requests = other.max_requests;
}

const std::vector<std::string>& TenantLimitFields() {
  static const std::vector<std::string> fields = {"registries", "max_images", "max_bytes", "requests_per_minute",
                                                  "max_requests"};
  return fields;
}

Result<void> SetTenantLimit(TenantLimits& limits, const std::string& field, const std::string& value,
                            Result<uint64_t> (*parse_size)(const std::string&)) {
  if (field == "registries") {
    std::vector<std::string> patterns;
    for (const std::string& item : CommaList(value)) {
      if (!IsPattern(item)) {
        return Error{ErrorCode::kInvalidArgument,
                     "registries wants REGISTRY/REPOSITORY glob patterns (docker.io/library/*), not '" + item + "'"};
      }
      patterns.push_back(item);
    }
    if (patterns.size() > kMaxRegistryPatterns) {
      return Error{ErrorCode::kInvalidArgument, "registries lists more than " + std::to_string(kMaxRegistryPatterns) +
                                                    " patterns"};
    }
    limits.registries = std::move(patterns);
    return {};
  }
  if (field != "max_bytes" && field != "max_images" && field != "requests_per_minute" && field != "max_requests") {
    return Error{ErrorCode::kInvalidArgument, "unknown tenant limit '" + field + "' (registries, max_images, max_bytes, "
                                              "requests_per_minute, max_requests)"};
  }
  if (field == "max_bytes") {
    BANGER_ASSIGN_OR_RETURN(limits.max_bytes, parse_size(value));
    return {};
  }
  uint64_t number = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
  if (value.empty() || ec != std::errc() || end != value.data() + value.size() || number > 1'000'000) {
    return Error{ErrorCode::kInvalidArgument, field + " wants a whole number from 0 to 1000000, not '" + value + "'"};
  }
  if (field == "max_requests" && (number < 1 || number > 1024)) {
    return Error{ErrorCode::kInvalidArgument, "max_requests wants a whole number from 1 to 1024, not '" + value + "'"};
  }
  (field == "max_images" ? limits.max_images
                         : field == "max_requests" ? limits.max_requests : limits.requests_per_minute) = number;
  return {};
}

bool RegistryAllowed(const std::vector<std::string>& patterns, const std::string& registry_repository) {
  for (const std::string& pattern : patterns) {
    if (::fnmatch(pattern.c_str(), registry_repository.c_str(), FNM_PATHNAME) == 0) return true;
  }
  return false;
}

bool IsValidTenantName(const std::string& name) {
  return IsValidAccountName(!name.empty() && name[0] == '@' ? name.substr(1) : name);
}

TenantLimits LimitsFor(const Config& config, const std::string& user, const std::vector<uint32_t>& gids) {
  TenantLimits limits = config.tenant_defaults;
  for (const auto& [name, overrides] : config.tenant_overrides) {
    if (name[0] != '@') continue;
    const std::optional<gid_t> gid = GroupId(name.substr(1));
    if (gid && std::find(gids.begin(), gids.end(), *gid) != gids.end()) limits.Overlay(overrides);
  }
  for (const auto& [name, overrides] : config.tenant_overrides) {
    if (name == user) limits.Overlay(overrides);
  }
  return limits;
}

}  // namespace banger::broker
