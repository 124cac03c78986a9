#include "broker/cli/tenant_rules.h"

#include <algorithm>

#include "base/fd.h"
#include "base/reference.h"
#include "base/text.h"
#include "broker/store/image_store.h"

namespace banger::broker {
namespace {

Error Refused(const std::string& message) { return Error{ErrorCode::kInvalidArgument, message}; }

Result<void> CheckFlags(const Config& config, const ParsedFlags& flags) {
  if (flags.Value("--catalog")) return Refused("--catalog is for admins: the daemon reads the host's catalog only");
  if (flags.Value("--signature-policy")) {
    return Refused("--signature-policy is for admins: a tenant's pull is held to the host's signature policy");
  }
  if (!flags.All("--limit").empty()) {
    return Refused("--limit is for admins: a tenant's pull keeps the host's unpack bounds");
  }
  BANGER_ASSIGN_OR_RETURN(std::vector<std::string> insecure, InsecureRegistryFlags(flags));
  for (const std::string& registry : insecure) {
    if (std::find(config.insecure_registries.begin(), config.insecure_registries.end(), registry) ==
        config.insecure_registries.end()) {
      return Refused("--insecure-registry " + registry + " is for admins unless the host's insecure_registries lists it");
    }
  }
  return {};
}

std::string Who(const Requester& requester) {
  return requester.user.empty() ? "uid " + std::to_string(requester.uid) : requester.user;
}

// The reference's REGISTRY/REPOSITORY among the tenant's patterns. A catalog name is held
// to the rule as the reference it reads as.
Result<void> CheckRegistry(const Requester& requester, const TenantLimits& limits, const std::string& text) {
  if (!limits.registries) return {};
  auto ref = ParseReference(text);
  if (!ref) return {};  // the command names the bad reference itself
  const std::string repository = ref->registry + "/" + ref->repository;
  if (RegistryAllowed(*limits.registries, repository)) return {};
  std::string patterns;
  for (const std::string& pattern : *limits.registries) patterns += (patterns.empty() ? "" : ", ") + pattern;
  return Refused(Who(requester) + " may pull only from " + (patterns.empty() ? "no registry" : patterns) + ", not " +
                 repository);
}

// Images and bytes the tenant holds now, before this pull adds one.
Result<void> CheckQuota(const CliContext& context, const TenantLimits& limits, const ParsedFlags& flags) {
  if (!limits.max_images && !limits.max_bytes) return {};
  BANGER_ASSIGN_OR_RETURN(ImageStore store, ImageStore::Open(context.StateRoot()));
  const std::vector<StoredImage> images = store.List();
  if (limits.max_images && images.size() >= *limits.max_images) {
    return Refused(Who(context.requester) + " holds " + std::to_string(images.size()) +
                   " image(s), the most tenant_max_images allows; remove one first");
  }
  if (!limits.max_bytes) return {};
  uint64_t used = 0;
  for (const StoredImage& image : images) used += AllocatedBytes(image.rootfs());
  uint64_t asked = 0;
  if (auto size = flags.Value("--size")) {
    if (auto bytes = ParseSize(*size)) asked = *bytes;
  }
  if (used >= *limits.max_bytes || asked > *limits.max_bytes - used) {
    return Refused(Who(context.requester) + "'s images hold " + HumanBytes(used) + " of the " +
                   HumanBytes(*limits.max_bytes) + " tenant_max_bytes allows" +
                   (asked > 0 ? ", and --size asks for " + HumanBytes(asked) : "") + "; remove an image first");
  }
  return {};
}

}  // namespace

Result<void> CheckTenantRequest(const CliContext& context, const std::string& command, const ParsedFlags& flags) {
  BANGER_TRY(CheckFlags(context.config, flags));
  if (command != "image pull" && command != "image fetch" && command != "image verify") return {};
  const TenantLimits limits = LimitsFor(context.config, context.requester.user, context.requester.gids);
  BANGER_TRY(CheckRegistry(context.requester, limits, flags.positional.empty() ? "" : flags.positional[0]));
  if (command == "image pull") BANGER_TRY(CheckQuota(context, limits, flags));
  return {};
}

}  // namespace banger::broker
