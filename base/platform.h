// An image's platform (os/architecture/variant): parsed from the user's --platform,
// matched against an index's entries by the fetcher, and read by the broker from the
// verified image config, which is what an image.json records.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace banger {

struct Platform {
  std::string os;
  std::string architecture;
  std::string variant;

  std::string String() const;  // "linux/arm64/v8"
  bool operator==(const Platform&) const = default;
};

// "os/arch[/variant]", lowercase; aarch64 and x86_64 name arm64 and amd64.
Result<Platform> ParsePlatform(std::string_view text);

// Whether `offered` is what `want` asks for: os and architecture equal, and the variant
// too when `want` names one (an arm64 without one is v8, as docker normalises it).
bool PlatformMatches(const Platform& offered, const Platform& want);

// The platform an image config (JSON, from the verified blob) declares: "os" and
// "architecture" are required, "variant" optional, each checked like ParsePlatform's.
Result<Platform> PlatformFromConfig(std::string_view config_json);

// The platform banger's guest agent is built for (this build's target).
const Platform& GuestAgentPlatform();

}  // namespace banger
