#include "broker/trust/simple_signing.h"

#include <set>

#include "base/digest.h"
#include "base/json.h"
#include "base/text.h"

namespace banger::broker {
namespace {

using nlohmann::json;

Error Invalid(const std::string& why) {
  return Error{ErrorCode::kMalformed, "the signed payload is not a cosign simple signing document: " + why};
}

// `object` is an object whose keys are exactly `keys`.
Result<void> ExactKeys(const json& object, const std::set<std::string>& keys, const std::string& what) {
  if (!object.is_object()) return Invalid(what + " is not an object");
  for (const auto& [key, value] : object.items()) {
    if (!keys.contains(key)) return Invalid(what + " has the unknown key \"" + Printable(key, 64) + "\"");
  }
  for (const std::string& key : keys) {
    if (!object.contains(key)) return Invalid(what + " lacks \"" + key + "\"");
  }
  return {};
}

Result<std::string> StringAt(const json& object, const std::string& key, const std::string& what) {
  const json& value = object[key];
  if (!value.is_string()) return Invalid(what + "." + key + " is not a string");
  return value.get<std::string>();
}

}  // namespace

Result<SimpleSigning> ParseSimpleSigning(std::string_view verified_payload) {
  if (verified_payload.size() > kMaxSimpleSigningBytes) return Invalid("larger than 64 KiB");
  auto parsed = ParseJsonStrict(verified_payload, 16);
  if (!parsed) return Invalid(parsed.error().message);
  const json& payload = *parsed;
  BANGER_TRY(ExactKeys(payload, {"critical", "optional"}, "the document"));
  const json& optional = payload["optional"];
  if (!optional.is_null() && !optional.is_object()) return Invalid("\"optional\" is neither null nor an object");
  if (optional.is_object()) {
    // Its fields are not trusted for anything; these two have a type when present.
    if (optional.contains("creator") && !optional["creator"].is_string()) return Invalid("optional.creator is not a string");
    if (optional.contains("timestamp") && !optional["timestamp"].is_number()) return Invalid("optional.timestamp is not a number");
  }
  const json& critical = payload["critical"];
  BANGER_TRY(ExactKeys(critical, {"type", "image", "identity"}, "critical"));
  BANGER_ASSIGN_OR_RETURN(std::string type, StringAt(critical, "type", "critical"));
  if (type != kSimpleSigningType) return Invalid("critical.type is \"" + Printable(type, 100) + "\"");
  BANGER_TRY(ExactKeys(critical["image"], {"docker-manifest-digest"}, "critical.image"));
  BANGER_TRY(ExactKeys(critical["identity"], {"docker-reference"}, "critical.identity"));
  SimpleSigning out;
  BANGER_ASSIGN_OR_RETURN(out.manifest_digest, StringAt(critical["image"], "docker-manifest-digest", "critical.image"));
  BANGER_ASSIGN_OR_RETURN(out.docker_reference, StringAt(critical["identity"], "docker-reference", "critical.identity"));
  // containers/image refuses an empty reference under every identity rule: it names nothing.
  if (out.docker_reference.empty()) return Invalid("critical.identity.docker-reference is empty");
  if (!IsValidDigest(out.manifest_digest)) {
    return Invalid("critical.image.docker-manifest-digest \"" + Printable(out.manifest_digest, 100) + "\" is not a sha256 digest");
  }
  return out;
}

}  // namespace banger::broker
