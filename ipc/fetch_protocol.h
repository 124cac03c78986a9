// The fetcher's messages (messages.h kResolve..kFetchUrl), one struct per body, shared
// by the fetcher and the broker, with strict decoders like unpack_protocol.h's: the
// broker trusts nothing of a plan until its manifest bytes are hashed and read again.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace banger::ipc {

inline constexpr size_t kMaxMediaTypeBytes = 255;
inline constexpr size_t kMaxCaPemBytes = 40 * 1024;

struct BlobRef {
  std::string digest;
  uint64_t size = 0;
  std::string media_type;
  bool operator==(const BlobRef&) const = default;
};

// kResolve; fd: where the manifest bytes go.
struct ResolveRequest {
  std::string reference;  // canonical form
  std::string platform = "linux/amd64";
  bool allow_plain_http = false;
  std::string username, password, identity_token;  // for this registry only
  std::string ca_pem;                              // extra CAs for this registry (certs.d)
  uint64_t max_document_bytes = 4 << 20;
  uint64_t max_layers = 128;
  bool operator==(const ResolveRequest&) const = default;
};

// kResolved.
struct ResolvedPlan {
  std::string manifest_digest;
  std::string manifest_media_type;
  std::string platform;  // the index entry's, when the manifest was chosen from one; else empty
  BlobRef config;
  std::vector<BlobRef> layers;
  bool operator==(const ResolvedPlan&) const = default;
};

// kFetchBlob; fd: where the bytes go.
struct BlobRequest {
  uint64_t id = 0;
  BlobRef blob;
  bool operator==(const BlobRequest&) const = default;
};

// kFetchUrl (a catalog or a bundle: no registry, no credentials); fd: where the bytes go.
struct UrlRequest {
  uint64_t id = 0;
  std::string url;
  uint64_t max_bytes = 0;
  bool operator==(const UrlRequest&) const = default;
};

// kBlobProgress and kBlobDone.
struct BlobProgress {
  uint64_t id = 0;
  uint64_t bytes = 0;
  bool operator==(const BlobProgress&) const = default;
};

std::string Encode(const ResolveRequest& request);
Result<ResolveRequest> DecodeResolveRequest(std::string_view body);
std::string Encode(const ResolvedPlan& plan);
// `max_layers` bounds the plan as the broker asked.
Result<ResolvedPlan> DecodeResolvedPlan(std::string_view body, uint64_t max_layers);
std::string Encode(const BlobRequest& request);
Result<BlobRequest> DecodeBlobRequest(std::string_view body);
std::string Encode(const UrlRequest& request);
Result<UrlRequest> DecodeUrlRequest(std::string_view body);
std::string Encode(const BlobProgress& progress);
Result<BlobProgress> DecodeBlobProgress(std::string_view body);

}  // namespace banger::ipc
