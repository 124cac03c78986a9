// A public key a trust policy names, and the one check made with it: does this signature
// over these exact bytes verify. The kinds are cosign's: ECDSA on P-256 (SHA-256), P-384
// (SHA-384) or P-521 (SHA-512), RSA of 2048 bits or more (PKCS #1 v1.5, SHA-256), and
// Ed25519 (pure, or Ed25519ph where cosign signs with it). Keys come from the policy only,
// never from a signature (docs/signatures.md).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"

namespace banger::broker {

class PublicKey {
 public:
  // A PEM "PUBLIC KEY" (SubjectPublicKeyInfo), as `cosign generate-key-pair` writes
  // cosign.pub; `source` names where it came from in errors.
  static Result<PublicKey> FromPem(std::string_view pem, const std::string& source);

  PublicKey(PublicKey&&) noexcept;
  PublicKey& operator=(PublicKey&&) noexcept;
  ~PublicKey();

  // Which Ed25519 forms a signature may take. cosign signs a tag-scheme payload with
  // Ed25519ph (Rekor's hashedrekord needs a pre-hash), and a DSSE envelope with pure
  // Ed25519, the only form sigstore-go and @sigstore/verify check there.
  enum class Ed25519Forms { kPureOrPrehashed, kPureOnly };

  // Whether `signature` (DER for ECDSA, raw for RSA and Ed25519) verifies over `payload`.
  bool Verifies(std::string_view payload, std::string_view signature,
                Ed25519Forms ed25519 = Ed25519Forms::kPureOrPrehashed) const;
  // "SHA256:<hex>" of the key's DER encoding, for records and messages.
  const std::string& fingerprint() const { return fingerprint_; }
  // "ecdsa-p256", "rsa-4096", "ed25519".
  const std::string& kind() const { return kind_; }
  const std::string& source() const { return source_; }

 private:
  struct Handle;
  PublicKey(std::unique_ptr<Handle> handle, std::string kind, std::string fingerprint, std::string source);
  std::unique_ptr<Handle> handle_;
  std::string kind_, fingerprint_, source_;
};

}  // namespace banger::broker
