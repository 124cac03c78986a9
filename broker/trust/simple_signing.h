// The payload of a cosign signature in the tag scheme: a simple-signing document,
// parsed only after its signature verified over these exact bytes, and as strictly as
// containers/image parses it: exactly "critical" and "optional" at the top ("optional"
// null or an object), exactly "type", "image" and "identity" inside "critical", no key
// twice anywhere, and cosign's type string.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace banger::broker {

inline constexpr std::string_view kSimpleSigningType = "cosign container image signature";
inline constexpr size_t kMaxSimpleSigningBytes = 64 * 1024;

struct SimpleSigning {
  std::string docker_reference;  // critical.identity.docker-reference, as signed
  std::string manifest_digest;   // critical.image.docker-manifest-digest, a valid sha256 digest
};

Result<SimpleSigning> ParseSimpleSigning(std::string_view verified_payload);

}  // namespace banger::broker
