// The broker's verdict on an image under its trust policy, made before any layer is
// unpacked: each requirement of the image's scope must accept it. A sigstoreSigned
// requirement accepts when one signature verifies with one of its keys over the exact
// payload bytes, and the payload, parsed only then, names the manifest digest the broker
// computed itself and an identity the policy accepts.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/reference.h"
#include "broker/trust/trust_policy.h"

namespace banger::broker {

inline constexpr size_t kMaxSignatures = 100;

// One signature as it was fetched, not yet trusted.
struct SignatureCandidate {
  enum class Format {
    kSimpleSigning,  // the tag scheme: the signature is over the payload itself
    kDsse,           // a bundle's envelope: over PreAuthEncoding(payload_type, payload)
  };
  Format format = Format::kSimpleSigning;
  std::string where;         // "sha256-<hex>.sig layer 2", for messages
  std::string payload;       // a simple-signing document, or a statement
  std::string signature;     // the signature's bytes (decoded from base64)
  std::string payload_type;  // kDsse: the envelope's, which the signature covers too
};

struct TrustVerdict {
  bool accepted = false;
  std::string policy;           // the policy's file
  std::string scope;            // where in it the requirements are
  std::string requirements;     // "sigstoreSigned", "insecureAcceptAnything", "reject", ...
  std::string key_fingerprint;  // the key that verified (sigstoreSigned)
  std::string key_source;       // its keyPath, or keyData
  std::string signed_identity;  // the docker-reference the accepted signature names
  bool digest_only = false;     // a nameless bundle, accepted under namelessBundles: accept
  std::string signed_digest;    // the digest it signs (the manifest's, or its index's)
  std::string reason;           // when refused: why, in one line
  // For image.json and the audit log.
  nlohmann::json ToJson() const;
  // This verdict (its policy, scope and requirements kept) turned into a refusal for `why`.
  TrustVerdict Refuse(std::string why) const;
};

// Whether the scope's requirements look at signatures at all (else none need fetching).
bool ScopeNeedsSignatures(const PolicyScope& scope);

// `digests`: what a signature may sign, all computed by the broker from the bytes it
// verified: the manifest pulled, and the index it was chosen from when there is one.
TrustVerdict EvaluateTrust(const TrustPolicy& policy, const Reference& image, const std::vector<std::string>& digests,
                           const std::vector<SignatureCandidate>& signatures);

}  // namespace banger::broker
