// The signature check of a pull (docs/signatures.md), between the resolve and the first
// blob: the scope of the policy the reference falls in, the image's cosign signatures
// when that scope needs them, fetched through the pull's own fetcher, and the verdict
// (broker/trust/verdict.h), which verifies each over its exact bytes. Nothing a
// signature's documents say is trusted before then, and a refusal ends the pull before
// the unpacker has a byte.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/reference.h"
#include "base/result.h"
#include "broker/pull/fetch.h"
#include "broker/trust/verdict.h"
#include "security/spawn.h"

namespace banger::broker {

inline constexpr std::string_view kSimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json";
inline constexpr std::string_view kCosignSignatureAnnotation = "dev.cosignproject.cosign/signature";
inline constexpr size_t kMaxSignatureTextBytes = 16 * 1024;  // a base64 signature, RSA-4096's included

// A signature's layer, as a signature manifest describes it: not trusted, only bounded.
struct SignatureLayer {
  std::string digest;
  uint64_t size = 0;
  std::string signature;  // base64, as the annotation holds it (the tag scheme's)
  std::string media_type = std::string(kSimpleSigningMediaType);
};

// The simple-signing layers of a signature manifest (`where` names it), each bounded
// before a byte of it is fetched; other layers are passed over. More than
// kMaxSignatures, or one larger than a payload may be, is kOversized; a manifest that is
// not one, kMalformed.
Result<std::vector<SignatureLayer>> SignatureLayersOf(const std::string& text, const std::string& where);

// The tag cosign's tag scheme stores the signatures of `digest` under: sha256-<hex>.sig.
std::string SignatureTag(const std::string& digest);

// The signatures of `digests` in the tag scheme: each digest's signature manifest, and
// its simple-signing layers, downloaded into the cache and verified like any blob. More
// than kMaxSignatures, or a layer larger than a signature payload may be, refuses the pull.
// `lease` holds the layers from `image cache prune` from before the cache is consulted.
Result<std::vector<SignatureCandidate>> FetchSignatures(security::SandboxedChild& fetcher, const BlobCache& cache,
                                                        const FetchOptions& options, const std::vector<std::string>& digests,
                                                        CacheLease& lease);

// The verdict on `image` (resolved for `named`, the reference as the user wrote it, even
// when a mirror serves it), accepted or not: nothing without a policy. Signature documents
// past their bounds or malformed are a refusal; a registry that cannot be reached is an
// error. `fetcher` is null when the image came from the cache alone (then only a scope
// that needs no signature can pass).
Result<std::optional<TrustVerdict>> JudgeTrust(security::SandboxedChild* fetcher, const BlobCache& cache,
                                               const FetchOptions& options, const Reference& named,
                                               const FetchedImage& image);

// The refusal of a verdict that did not accept: the reference, the reason, the policy and
// its scope, in one line.
Error RefusalOf(const Reference& named, const TrustVerdict& verdict);

// JudgeTrust, and an error (RefusalOf) when the verdict refuses.
Result<std::optional<TrustVerdict>> CheckTrust(security::SandboxedChild* fetcher, const BlobCache& cache,
                                               const FetchOptions& options, const Reference& named,
                                               const FetchedImage& image);

}  // namespace banger::broker
