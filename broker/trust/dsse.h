// Sigstore bundles (v0.3) in keyed mode, as cosign's new bundle format stores an image
// signature: a DSSE envelope whose payload is an in-toto statement naming the image's
// digest as its subject. The envelope is read first (nothing in it trusted: keys never
// come from a bundle); the statement only once a signature over the envelope's
// pre-authentication encoding verified. Fields neither reads are passed over (the
// bundle's wrapper is unsigned; in-toto says to ignore what a consumer does not know);
// a key twice is refused.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace banger::broker {

inline constexpr std::string_view kBundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json";
inline constexpr std::string_view kInTotoPayloadType = "application/vnd.in-toto+json";
inline constexpr std::string_view kInTotoStatementV1 = "https://in-toto.io/Statement/v1";
inline constexpr std::string_view kCosignSignPredicate = "https://sigstore.dev/cosign/sign/v1";
inline constexpr size_t kMaxBundleBytes = 256 * 1024;

struct DsseEnvelope {
  std::string payload_type;
  std::string payload;                  // decoded: the statement's bytes
  std::vector<std::string> signatures;  // decoded
};

// The DSSE envelope of a bundle: its media type v0.3, a `dsseEnvelope` (a
// `messageSignature` bundle signs a blob, not an image) with exactly one signature, as
// the bundle spec says, every field base64 that should be; other fields are passed over.
Result<DsseEnvelope> ParseBundleEnvelope(std::string_view bundle);

// "DSSEv1 <len type> <type> <len body> <body>": the bytes a DSSE signature signs.
std::string PreAuthEncoding(std::string_view type, std::string_view body);

struct StatementSubject {
  std::string name;    // may be empty: cosign writes none
  std::string digest;  // "sha256:<hex>"
};

// The subjects of a verified cosign signing statement: `_type` in-toto Statement v1,
// `predicateType` cosign's signing predicate (an attestation is not a signature), each
// subject with a sha256 digest and a string name if any; no key twice anywhere.
Result<std::vector<StatementSubject>> ParseCosignStatement(std::string_view verified_payload);

}  // namespace banger::broker
