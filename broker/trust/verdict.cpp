#include "broker/trust/verdict.h"

#include <algorithm>
#include <optional>

#include "base/text.h"
#include "broker/trust/dsse.h"
#include "broker/trust/signed_identity.h"
#include "broker/trust/simple_signing.h"

namespace banger::broker {
namespace {

// How far one signature got, for the message when none is accepted: the furthest wins.
enum class Reached { kNothing, kUnverified, kVerified };

struct Attempt {
  Reached reached = Reached::kNothing;
  std::string reason;
};

// What a verified signature says it signs: a digest, and the reference it names.
struct Claim {
  std::string digest;
  std::string identity;  // empty: a bundle whose statement names no subject
};

// The bytes `candidate`'s signature covers.
std::string SignedBytes(const SignatureCandidate& candidate) {
  return candidate.format == SignatureCandidate::Format::kDsse ? PreAuthEncoding(candidate.payload_type, candidate.payload)
                                                               : candidate.payload;
}

// What a verified payload claims, read only now and only as strictly as the format says.
Result<std::vector<Claim>> ClaimsOf(const SignatureCandidate& candidate) {
  if (candidate.format == SignatureCandidate::Format::kSimpleSigning) {
    BANGER_ASSIGN_OR_RETURN(SimpleSigning payload, ParseSimpleSigning(candidate.payload));
    return std::vector<Claim>{{payload.manifest_digest, payload.docker_reference}};
  }
  if (candidate.payload_type != kInTotoPayloadType) {
    return Error{ErrorCode::kMalformed, candidate.where + ": its payloadType is not " + std::string(kInTotoPayloadType)};
  }
  BANGER_ASSIGN_OR_RETURN(std::vector<StatementSubject> subjects, ParseCosignStatement(candidate.payload));
  std::vector<Claim> claims;
  for (StatementSubject& subject : subjects) claims.push_back({std::move(subject.digest), std::move(subject.name)});
  return claims;
}

// The claim of `candidate` for one of `digests` that the identity rule accepts. Every
// claim on one of the digests counts, in any order: a named one the rule accepts wins;
// else a named one refuses; only a bundle whose subjects for the digest all lack a name
// is taken on its digest alone, and only under namelessBundles.
Result<Claim> Match(const SignatureCandidate& candidate, const Requirement& requirement, const Reference& image,
                    const std::vector<std::string>& digests) {
  BANGER_ASSIGN_OR_RETURN(std::vector<Claim> claims, ClaimsOf(candidate));
  std::vector<const Claim*> ours;
  for (const Claim& claim : claims) {
    if (std::find(digests.begin(), digests.end(), claim.digest) != digests.end()) ours.push_back(&claim);
  }
  if (ours.empty()) {
    std::string mine;
    for (const std::string& digest : digests) mine += (mine.empty() ? "" : " or ") + digest;
    return Error{ErrorCode::kInvalidArgument, candidate.where + " signs " + claims.front().digest + ", not this image's " + mine};
  }
  std::optional<Error> refused;
  for (const Claim* claim : ours) {
    if (claim->identity.empty()) continue;
    auto matched = MatchSignedIdentity(requirement.identity, image, claim->identity);
    if (matched) return *claim;
    if (!refused) refused = matched.error();
  }
  if (refused) return *refused;
  // Only nameless subjects, which only a bundle's statement can have.
  if (requirement.accept_nameless_bundles && candidate.format == SignatureCandidate::Format::kDsse) return *ours.front();
  return Error{ErrorCode::kInvalidArgument,
               candidate.where + " names no identity (its statement's subject has no name, as cosign writes it), and " +
                   requirement.identity.Describe() + " needs one; \"namelessBundles\": \"accept\" in the requirement "
                                                     "takes the digest alone (docs/signatures.md)"};
}

// The first signature that satisfies `requirement`, into `verdict`; else why none did.
std::optional<std::string> Satisfy(const Requirement& requirement, const Reference& image,
                                   const std::vector<std::string>& digests,
                                   const std::vector<SignatureCandidate>& signatures, TrustVerdict& verdict) {
  if (signatures.empty()) return "the image has no signature, and sigstoreSigned needs one";
  Attempt best;
  for (const SignatureCandidate& candidate : signatures) {
    const PublicKey* verified_by = nullptr;
    const std::string signed_bytes = SignedBytes(candidate);
    const auto ed25519 = candidate.format == SignatureCandidate::Format::kDsse ? PublicKey::Ed25519Forms::kPureOnly
                                                                                : PublicKey::Ed25519Forms::kPureOrPrehashed;
    for (const auto& key : requirement.keys) {
      if (key->Verifies(signed_bytes, candidate.signature, ed25519)) {
        verified_by = key.get();
        break;
      }
    }
    if (verified_by == nullptr) {
      if (best.reached == Reached::kNothing) {
        std::string fingerprints;
        for (const auto& key : requirement.keys) fingerprints += (fingerprints.empty() ? "" : ", ") + key->fingerprint();
        best = {Reached::kUnverified, "no signature verifies with the policy's key (" + fingerprints + ")"};
      }
      continue;
    }
    // Only now is the payload read.
    auto matched = Match(candidate, requirement, image, digests);
    if (matched) {
      verdict.key_fingerprint = verified_by->fingerprint();
      verdict.key_source = verified_by->source();
      verdict.signed_identity = matched->identity;
      // Any requirement met on a digest alone makes the whole verdict digest-only.
      verdict.digest_only = verdict.digest_only || matched->identity.empty();
      verdict.signed_digest = matched->digest;
      return std::nullopt;
    }
    if (best.reached != Reached::kVerified) best = {Reached::kVerified, matched.error().message};
  }
  return best.reason;
}

}  // namespace

nlohmann::json TrustVerdict::ToJson() const {
  nlohmann::json out = {{"accepted", accepted}, {"policy", policy}, {"scope", scope}, {"requirements", requirements}};
  if (!key_fingerprint.empty()) out["key_fingerprint"] = key_fingerprint;
  if (!key_source.empty()) out["key"] = key_source;
  if (!signed_identity.empty()) out["signed_identity"] = signed_identity;
  if (digest_only) out["digest_only"] = true;
  if (!signed_digest.empty()) out["signed_digest"] = signed_digest;
  if (!reason.empty()) out["reason"] = reason;
  return out;
}

TrustVerdict TrustVerdict::Refuse(std::string why) const {
  TrustVerdict refused;
  refused.policy = policy;
  refused.scope = scope;
  refused.requirements = requirements;
  refused.reason = std::move(why);
  return refused;
}

bool ScopeNeedsSignatures(const PolicyScope& scope) {
  bool needs = false;
  for (const Requirement& requirement : *scope.requirements) {
    if (requirement.kind == Requirement::Kind::kReject || requirement.kind == Requirement::Kind::kUnsupported) return false;
    needs = needs || requirement.kind == Requirement::Kind::kSigstoreSigned;
  }
  return needs;
}

TrustVerdict EvaluateTrust(const TrustPolicy& policy, const Reference& image, const std::vector<std::string>& digests,
                           const std::vector<SignatureCandidate>& signatures) {
  const PolicyScope scope = policy.ScopeFor(image);
  TrustVerdict verdict;
  verdict.policy = policy.source();
  verdict.scope = scope.name;
  for (const Requirement& requirement : *scope.requirements) {
    verdict.requirements += (verdict.requirements.empty() ? "" : ", ") + requirement.Describe();
  }
  auto refuse = [&](std::string why) { return verdict.Refuse(std::move(why)); };
  if (signatures.size() > kMaxSignatures) {
    return refuse("the image has " + std::to_string(signatures.size()) + " signatures, more than the " +
                  std::to_string(kMaxSignatures) + " banger reads");
  }
  for (const Requirement& requirement : *scope.requirements) {
    switch (requirement.kind) {
      case Requirement::Kind::kInsecureAcceptAnything:
        break;
      case Requirement::Kind::kReject:
        return refuse("the policy rejects every image in this scope");
      case Requirement::Kind::kUnsupported:
        return refuse(requirement.unsupported);
      case Requirement::Kind::kSigstoreSigned:
        if (auto why = Satisfy(requirement, image, digests, signatures, verdict)) return refuse(*why);
        break;
    }
  }
  verdict.accepted = true;
  return verdict;
}

}  // namespace banger::broker
