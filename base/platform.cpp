#include "base/platform.h"

#include <nlohmann/json.hpp>

#include "base/json.h"

namespace banger {
namespace {

bool ValidPart(const std::string& s) {
  if (s.empty() || s.size() > 32) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

std::string NormalArchitecture(std::string architecture) {
  if (architecture == "aarch64") return "arm64";
  if (architecture == "x86_64" || architecture == "x86-64") return "amd64";
  return architecture;
}

// The variant a platform has when it names none (docker's normalisation).
std::string DefaultVariant(const Platform& p) { return p.architecture == "arm64" ? "v8" : ""; }

}  // namespace

std::string Platform::String() const { return os + "/" + architecture + (variant.empty() ? "" : "/" + variant); }

Result<Platform> ParsePlatform(std::string_view text) {
  auto invalid = [&] {
    return Error{ErrorCode::kInvalidArgument, "invalid platform '" + std::string(text.substr(0, 100)) +
                                                  "': want os/arch[/variant]"};
  };
  Platform p;
  const size_t first = text.find('/');
  if (first == std::string_view::npos) return invalid();
  p.os = std::string(text.substr(0, first));
  const std::string_view rest = text.substr(first + 1);
  const size_t second = rest.find('/');
  p.architecture = std::string(rest.substr(0, second));
  if (second != std::string_view::npos) p.variant = std::string(rest.substr(second + 1));
  if (!ValidPart(p.os) || !ValidPart(p.architecture) || (second != std::string_view::npos && !ValidPart(p.variant))) {
    return invalid();
  }
  p.architecture = NormalArchitecture(p.architecture);
  return p;
}

bool PlatformMatches(const Platform& offered, const Platform& want) {
  if (offered.os != want.os || offered.architecture != want.architecture) return false;
  if (want.variant.empty()) return true;
  const std::string variant = offered.variant.empty() ? DefaultVariant(offered) : offered.variant;
  const std::string wanted = want.variant;
  return variant == wanted;
}

Result<Platform> PlatformFromConfig(std::string_view config_json) {
  BANGER_ASSIGN_OR_RETURN(nlohmann::json config, ParseJsonBounded(config_json, 64));
  auto text = [&](const char* key, bool required) -> Result<std::string> {
    if (!config.is_object() || !config.contains(key)) {
      if (!required) return std::string();
      return Error{ErrorCode::kMalformed, std::string("the image config has no \"") + key + "\""};
    }
    if (!config[key].is_string() || !ValidPart(config[key].get<std::string>())) {
      return Error{ErrorCode::kMalformed, std::string("the image config's \"") + key +
                                              "\" is not a platform name (lowercase letters, digits, _ and -)"};
    }
    return config[key].get<std::string>();
  };
  Platform p;
  BANGER_ASSIGN_OR_RETURN(p.os, text("os", true));
  BANGER_ASSIGN_OR_RETURN(p.architecture, text("architecture", true));
  BANGER_ASSIGN_OR_RETURN(p.variant, text("variant", false));
  p.architecture = NormalArchitecture(p.architecture);
  return p;
}

const Platform& GuestAgentPlatform() {
#if defined(__x86_64__)
  static const Platform kAgent{"linux", "amd64", ""};
#elif defined(__aarch64__)
  static const Platform kAgent{"linux", "arm64", ""};
#else
#error "banger's guest agent is built for x86-64 or arm64 hosts"
#endif
  return kAgent;
}

}  // namespace banger
