// Whether the docker-reference a verified signature names is one the policy accepts for
// the image being pulled (containers-policy.json's signedIdentity rules).
#pragma once

#include <string_view>

#include "base/reference.h"
#include "base/result.h"
#include "broker/trust/trust_policy.h"

namespace banger::broker {

// Nothing when `signed_reference` is acceptable for `image` under `identity`; else an
// error saying which rule it fails and why.
Result<void> MatchSignedIdentity(const SignedIdentity& identity, const Reference& image, std::string_view signed_reference);

}  // namespace banger::broker
