// A trust policy in containers-policy.json's format, the part of it that concerns
// registries (docs/signatures.md lists what is read and how it differs from
// containers/image): `default`, and `transports.docker` scopes by registry, namespace,
// repository, tag or digest, and `*.domain`. A scope holds requirements that must all
// accept an image: insecureAcceptAnything, reject, sigstoreSigned with keys and a
// signedIdentity. Parsing refuses every key it does not know.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/reference.h"
#include "base/result.h"
#include "broker/trust/public_key.h"

namespace banger::broker {

enum class IdentityRule { kMatchRepoDigestOrExact, kMatchExact, kMatchRepository, kExactReference, kExactRepository, kRemapIdentity };

// Which docker-reference in a signed payload is acceptable for the image pulled.
struct SignedIdentity {
  IdentityRule rule = IdentityRule::kMatchRepoDigestOrExact;
  std::string docker_reference;   // exactReference: canonical, with a tag or digest
  std::string docker_repository;  // exactRepository: canonical REGISTRY/REPOSITORY
  std::string prefix, signed_prefix;  // remapIdentity
  // "matchRepoDigestOrExact", "exactReference docker.io/library/busybox:1", ...
  std::string Describe() const;
};

struct Requirement {
  enum class Kind { kInsecureAcceptAnything, kReject, kSigstoreSigned, kUnsupported };
  Kind kind = Kind::kReject;
  std::vector<std::shared_ptr<const PublicKey>> keys;  // sigstoreSigned: any one may sign
  SignedIdentity identity;                              // sigstoreSigned
  // sigstoreSigned, banger's `"namelessBundles": "accept"`: a bundle whose statement
  // subject has no name (cosign writes none) is bound by its digest alone, no identity
  // checked. Refused by default.
  bool accept_nameless_bundles = false;
  std::string unsupported;  // kUnsupported: why banger cannot satisfy it (never accepts)
  std::string Describe() const;  // the policy's name of the type
};

// The requirements that apply to one reference, and where in the policy they are.
struct PolicyScope {
  std::string name;  // `transports.docker "docker.io/library"`, `default`, ...
  const std::vector<Requirement>* requirements = nullptr;
};

// Reads a key file a policy names (an absolute keyPath); the broker holds root's files
// to the trusted-path rule.
using KeyFileReader = std::function<Result<std::string>(const std::string& path)>;

class TrustPolicy {
 public:
  // `source` names the policy in errors ("/etc/banger/policy.json").
  static Result<TrustPolicy> Parse(std::string_view text, const std::string& source, const KeyFileReader& read_key);
  // What no policy file means: every image is accepted, as before signatures existed.
  static TrustPolicy AcceptAnything();

  // The most specific scope naming `ref`: its exact reference, then its repository and
  // each namespace above it, the registry, `*.domain` wildcards of the registry's host,
  // the docker transport's "" scope, and `default`.
  PolicyScope ScopeFor(const Reference& ref) const;
  const std::string& source() const { return source_; }

 private:
  std::string source_;
  std::vector<Requirement> default_;
  std::vector<std::pair<std::string, std::vector<Requirement>>> docker_;
};

// The scope names a reference is looked up under, most specific first (without the
// transport default and `default`).
std::vector<std::string> PolicyScopesOf(const Reference& ref);

}  // namespace banger::broker
