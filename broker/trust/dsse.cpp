#include "broker/trust/dsse.h"

#include "base/base64.h"
#include "base/digest.h"
#include "base/json.h"
#include "base/text.h"

namespace banger::broker {
namespace {

using nlohmann::json;

constexpr size_t kMaxSubjects = 64;

Error Invalid(const std::string& what, const std::string& why) {
  return Error{ErrorCode::kMalformed, what + ": " + why};
}

// Unknown keys are passed over: the bundle's wrapper is unsigned, so they change nothing
// that is checked (as @sigstore/bundle reads it), and in-toto tells a statement's
// consumers to ignore the fields they do not know. A key twice is refused all the same
// (ParseJsonStrict).
Result<void> IsObject(const json& object, const std::string& what) {
  if (!object.is_object()) return Invalid(what, "not an object");
  return {};
}

Result<std::string> Base64Field(const json& object, const std::string& key, const std::string& what) {
  const json& value = object.contains(key) ? object[key] : json();
  if (!value.is_string()) return Invalid(what, "\"" + key + "\" is not a string");
  auto decoded = DecodeBase64(value.get<std::string>());
  if (!decoded) return Invalid(what, "\"" + key + "\" is not base64");
  return *decoded;
}

}  // namespace

Result<DsseEnvelope> ParseBundleEnvelope(std::string_view bundle) {
  const std::string what = "the sigstore bundle";
  if (bundle.size() > kMaxBundleBytes) return Invalid(what, "larger than 256 KiB");
  auto parsed = ParseJsonStrict(bundle, 16);
  if (!parsed) return Invalid(what, parsed.error().message);
  const json& top = *parsed;
  BANGER_TRY(IsObject(top, what));
  if (top.value("mediaType", json()) != kBundleMediaType) return Invalid(what, "its mediaType is not a v0.3 bundle's");
  if (!top.contains("dsseEnvelope")) return Invalid(what, "no dsseEnvelope (a messageSignature signs a blob, not an image)");
  if (top.contains("messageSignature")) return Invalid(what, "both a dsseEnvelope and a messageSignature");
  const json& envelope = top["dsseEnvelope"];
  BANGER_TRY(IsObject(envelope, what + "'s dsseEnvelope"));
  DsseEnvelope out;
  BANGER_ASSIGN_OR_RETURN(out.payload, Base64Field(envelope, "payload", what + "'s dsseEnvelope"));
  const json& type = envelope.contains("payloadType") ? envelope["payloadType"] : json();
  if (!type.is_string()) return Invalid(what, "payloadType is not a string");
  out.payload_type = type.get<std::string>();
  const json& signatures = envelope.contains("signatures") ? envelope["signatures"] : json();
  // The bundle spec: a verifier MUST reject an envelope without exactly one signature.
  if (!signatures.is_array() || signatures.size() != 1) return Invalid(what, "the envelope holds other than one signature");
  for (const json& signature : signatures) {
    BANGER_TRY(IsObject(signature, what + "'s signature"));
    BANGER_ASSIGN_OR_RETURN(std::string sig, Base64Field(signature, "sig", what + "'s signature"));
    out.signatures.push_back(std::move(sig));
  }
  return out;
}

std::string PreAuthEncoding(std::string_view type, std::string_view body) {
  std::string out = "DSSEv1 " + std::to_string(type.size()) + " ";
  out += type;
  out += " " + std::to_string(body.size()) + " ";
  out += body;
  return out;
}

Result<std::vector<StatementSubject>> ParseCosignStatement(std::string_view verified_payload) {
  const std::string what = "the signed statement";
  if (verified_payload.size() > kMaxBundleBytes) return Invalid(what, "larger than 256 KiB");
  auto parsed = ParseJsonStrict(verified_payload, 16);
  if (!parsed) return Invalid(what, parsed.error().message);
  const json& statement = *parsed;
  BANGER_TRY(IsObject(statement, what));
  if (statement.value("_type", json()) != kInTotoStatementV1) return Invalid(what, "its _type is not in-toto Statement v1");
  const json predicate = statement.value("predicateType", json());
  if (predicate != kCosignSignPredicate) {
    return Invalid(what, "its predicateType is " + (predicate.is_string() ? "\"" + Printable(predicate.get<std::string>(), 100) + "\"" : std::string("missing")) +
                             ", not cosign's signature (" + std::string(kCosignSignPredicate) + "): an attestation is not a signature");
  }
  const json& subjects = statement.contains("subject") ? statement["subject"] : json();
  if (!subjects.is_array() || subjects.empty() || subjects.size() > kMaxSubjects) {
    return Invalid(what, "no subject, or more than 64");
  }
  std::vector<StatementSubject> out;
  for (const json& subject : subjects) {
    BANGER_TRY(IsObject(subject, what + "'s subject"));
    StatementSubject one;
    if (subject.contains("name")) {
      if (!subject["name"].is_string()) return Invalid(what, "a subject's name is not a string");
      one.name = subject["name"].get<std::string>();
    }
    const json& digest = subject.contains("digest") ? subject["digest"] : json();
    if (!digest.is_object() || !digest.contains("sha256") || !digest["sha256"].is_string()) {
      return Invalid(what, "a subject without a sha256 digest");
    }
    one.digest = "sha256:" + digest["sha256"].get<std::string>();
    if (!IsValidDigest(one.digest)) return Invalid(what, "a subject's sha256 is not 64 lowercase hex digits");
    out.push_back(std::move(one));
  }
  return out;
}

}  // namespace banger::broker
