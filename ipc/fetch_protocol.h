// The fetcher's messages (messages.h kResolve..kFetchUrl, kFetchDocument, kDocumentFetched), one struct per body, shared
// by the fetcher and the broker, each listing its fields once (fields.h): strict decoding
// like unpack_protocol.h's. The broker trusts nothing of a plan: it hashes the documents
// the fetcher handed over, derives the plan from them itself (DerivePlan) and requires
// the fetcher's to be the same.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/platform.h"
#include "ipc/fields.h"
#include "ipc/image_documents.h"

namespace banger::ipc {

inline constexpr size_t kMaxCaPemBytes = 40 * 1024;
inline constexpr size_t kMaxPlanLayers = 4096;
inline constexpr size_t kMaxReferenceBytes = 4096;
inline constexpr size_t kMaxCredentialBytes = 16 * 1024;
inline constexpr size_t kMaxUrlBytes = 8192;
inline constexpr size_t kMaxPlatformBytes = 100;
inline constexpr size_t kMaxBlobMediaTypeBytes = 255;
// No layer, config or bundle is larger: a size past it is a lie, not an image.
inline constexpr uint64_t kMaxBlobBytes = uint64_t{1} << 40;

struct BlobRef {
  std::string digest;
  uint64_t size = 0;
  std::string media_type;
  bool operator==(const BlobRef&) const = default;
  template <class Self, class V>
  static void Fields(Self& s, V& v) {
    v.Digest("digest", s.digest).Uint("size", s.size, kMaxBlobBytes).String("media_type", s.media_type, kMaxBlobMediaTypeBytes);
  }
};

// kResolve; fd: where the documents go, as the registry sent them: each index on the
// way (outermost first), then the manifest, end to end.
struct ResolveRequest {
  static constexpr const char* kName = "resolve";
  std::string reference;  // canonical form
  std::string platform = "linux/amd64";
  bool allow_plain_http = false;
  std::string username, password, identity_token;  // for this registry only
  std::string ca_pem;                              // extra CAs for this registry (certs.d)
  uint64_t max_document_bytes = 4 << 20;
  uint64_t max_layers = 128;
  bool operator==(const ResolveRequest&) const = default;
  template <class Self, class V>
  static void Fields(Self& s, V& v) {
    v.String("reference", s.reference, kMaxReferenceBytes).String("platform", s.platform, kMaxPlatformBytes);
    v.Bool("allow_plain_http", s.allow_plain_http).String("username", s.username, kMaxCredentialBytes);
    v.String("password", s.password, kMaxCredentialBytes).String("identity_token", s.identity_token, kMaxCredentialBytes);
    v.String("ca_pem", s.ca_pem, kMaxCaPemBytes).Uint("max_document_bytes", s.max_document_bytes);
    v.Uint("max_layers", s.max_layers, kMaxPlanLayers);
  }
};

// One index document on the way to the manifest.
struct IndexDocument {
  std::string digest;
  uint64_t size = 0;
  bool operator==(const IndexDocument&) const = default;
  template <class Self, class V>
  static void Fields(Self& s, V& v) {
    v.Digest("digest", s.digest).Uint("size", s.size, kMaxBlobBytes);
  }
};

// kResolved.
struct ResolvedPlan {
  static constexpr const char* kName = "resolved plan";
  std::vector<IndexDocument> indexes;  // outermost first; empty when the reference named a manifest
  std::string manifest_digest;
  std::string manifest_media_type;
  std::string platform;  // the index entry's, when the manifest was chosen from one; else empty
  BlobRef config;
  std::vector<BlobRef> layers;
  bool operator==(const ResolvedPlan&) const = default;
  template <class Self, class V>
  static void Fields(Self& s, V& v) {
    v.Objects("indexes", s.indexes, kMaxIndexDepth);
    v.Digest("manifest_digest", s.manifest_digest).String("manifest_media_type", s.manifest_media_type, 255);
    v.String("platform", s.platform, kMaxPlatformBytes).Object("config", s.config);
    v.Objects("layers", s.layers, kMaxPlanLayers);
  }
};
// Decode<ResolvedPlan>, and no more layers than the broker asked for.
Result<ResolvedPlan> DecodeResolvedPlan(std::string_view body, uint64_t max_layers);

// The plan that documents give, as the registry sent them: `indexes` outermost first, each
// choosing the next for `want`, then the manifest. `manifest_media_type` is what the
// Content-Type said (it decides only when the manifest names no mediaType itself). Each
// index entry must name the next document's digest and size exactly. Used by the fetcher
// to report its plan and by the broker to check it; errors name `where`.
Result<ResolvedPlan> DerivePlan(const std::vector<std::string_view>& indexes, std::string_view manifest,
                                std::string_view manifest_media_type, const Platform& want,
                                const DocumentLimits& limits, const std::string& where);

// kFetchBlob; fd: where the bytes go.
struct BlobRequest {
  static constexpr const char* kName = "fetch-blob";
  uint64_t id = 0;
  BlobRef blob;
  bool operator==(const BlobRequest&) const = default;
  template <class Self, class V>
  static void Fields(Self& s, V& v) {
    v.Uint("id", s.id).Object("blob", s.blob);
  }
};

// kFetchUrl (a catalog or a bundle: no registry, no credentials); fd: where the bytes go.
struct UrlRequest {
  static constexpr const char* kName = "fetch-url";
  uint64_t id = 0;
  std::string url;
  uint64_t max_bytes = 0;
  bool operator==(const UrlRequest&) const = default;
  template <class Self, class V>
  static void Fields(Self& s, V& v) {
    v.Uint("id", s.id).String("url", s.url, kMaxUrlBytes).Uint("max_bytes", s.max_bytes);
  }
};

// kFetchDocument: another document of the resolved repository, for the signatures
// (docs/signatures.md): the manifest a tag or digest names, or with `referrers` a page of
// the index of the manifests that name `selector` (a digest) as their subject, filtered
// by `artifact_type` where the registry can; `page` is a previous page's `next` (empty:
// the first). fd: where the document goes.
struct DocumentRequest {
  static constexpr const char* kName = "fetch-document";
  std::string selector;  // a tag, or "sha256:<hex>"
  bool referrers = false;
  std::string artifact_type;
  std::string page;
  bool operator==(const DocumentRequest&) const = default;
  template <class Self, class V>
  static void Fields(Self& s, V& v) {
    v.String("selector", s.selector, 128 + 7).Bool("referrers", s.referrers);
    v.String("artifact_type", s.artifact_type, kMaxBlobMediaTypeBytes).String("page", s.page, kMaxUrlBytes);
  }
};

// kDocumentFetched: whether the registry has it (a 404 is `found` false, not an error),
// what its Content-Type said, how many bytes went into the fd, and for referrers the
// next page's path (the Link header's rel="next" on the registry's host; empty: none).
struct DocumentFetched {
  static constexpr const char* kName = "document-fetched";
  bool found = false;
  std::string media_type;
  uint64_t size = 0;
  std::string next;
  bool operator==(const DocumentFetched&) const = default;
  template <class Self, class V>
  static void Fields(Self& s, V& v) {
    v.Bool("found", s.found).String("media_type", s.media_type, kMaxBlobMediaTypeBytes).Uint("size", s.size, kMaxBlobBytes);
    v.String("next", s.next, kMaxUrlBytes);
  }
};

// kBlobDone.
struct BlobDone {
  static constexpr const char* kName = "blob-done";
  uint64_t id = 0, bytes = 0;
  bool operator==(const BlobDone&) const = default;
  template <class Self, class V>
  static void Fields(Self& s, V& v) {
    v.Uint("id", s.id).Uint("bytes", s.bytes);
  }
};

}  // namespace banger::ipc
