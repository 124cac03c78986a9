// A registry v2 client: manifests and indexes resolved to one platform's image, blobs
// streamed into a descriptor the broker gave us. Credentials go only to the registry
// host and to the token realm it named over https (or loopback): never to a redirect
// target on another host (invariant I6).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "fetcher/http.h"
#include "ipc/image_documents.h"
#include "base/reference.h"
#include "base/result.h"

namespace banger::fetcher {

using ipc::Descriptor;
using ipc::Document;
using ipc::DocumentKind;
using ipc::DocumentLimits;
namespace media = ipc::media;

struct Credentials {
  std::string username;
  std::string password;
  std::string identity_token;  // an OAuth2 refresh token (docker login with a token)

  bool empty() const { return username.empty() && identity_token.empty(); }
};

struct RegistryOptions {
  bool allow_plain_http = false;  // loopback, or --insecure-registry
  std::string ca_pem;             // extra trusted CAs for this registry (certs.d)
  Credentials credentials;
  DocumentLimits limits;
  int max_redirects = 5;
  int max_attempts = 6;                      // per request, retries included
  std::chrono::seconds max_retry_time{300};  // per request
  std::chrono::milliseconds initial_backoff{250};
  // The broker's network gate: how names are resolved and connections made (http.h).
  NetworkGateway* gateway = nullptr;
};

// The documents a reference resolved through, as the registry sent them.
struct ResolvedDocuments {
  std::vector<std::string> indexes;  // outermost first; empty when it named a manifest
  std::string manifest;
  std::string manifest_media_type;  // as decided from its mediaType and Content-Type
};

class RegistryClient {
 public:
  RegistryClient(Reference reference, RegistryOptions options);

  // Tag or digest -> (index ->)* manifest for `want`. A digest reference must match the
  // bytes, and each index entry the next document's digest and size.
  Result<ResolvedDocuments> Resolve(const Platform& want);

  // Streams the blob into `fd` from offset 0, resuming with Range after a dropped
  // connection and retrying with backoff. Never writes more than blob.size bytes.
  // Thread-safe: parallel downloads share the token.
  using Progress = std::function<void(uint64_t bytes_so_far)>;
  Result<uint64_t> DownloadBlob(const Descriptor& blob, int fd, const Progress& progress);

  // Another document of the repository, for its signatures: the manifest `selector` (a
  // tag or digest) names, or with `referrers` the referrers index of a digest. Nothing
  // when the registry answers 404 (no such tag, or no referrers API).
  // A referrers page is asked with `artifact_type` as the filter, and `page` (a previous
  // page's `next`) after the first.
  struct FetchedDocument {
    std::string body;
    std::string media_type;  // the Content-Type
    std::string next;        // referrers: the next page's path on the registry, if any
  };
  Result<std::optional<FetchedDocument>> FetchDocument(const std::string& selector, bool referrers,
                                                       const std::string& artifact_type = "", const std::string& page = "");

 private:
  struct Fetched {
    HttpResponse response;
    std::string digest;  // sha256 of the body
  };
  Result<std::string> RepositoryUrl();
  Result<Fetched> FetchManifest(const std::string& selector);
  // Performs `request` against the registry with authorization, negotiating on 401,
  // following redirects (credentials only to the registry host), retrying transient
  // failures. `prepare` adjusts each attempt (a blob's Range). A null sink buffers up
  // to max_body.
  using Prepare = std::function<void(HttpRequest&)>;
  Result<HttpResponse> Exchange(HttpClient& http, HttpRequest request, size_t max_body, const HttpClient::Sink* sink,
                                const Prepare& prepare, const std::string& what);
  Result<void> Negotiate(HttpClient& http, const HttpResponse& challenge, const std::string& failed_authorization);
  Result<void> FetchToken(HttpClient& http, const std::string& realm, const std::string& service,
                          const std::string& scope);
  std::string CurrentAuthorization();
  bool CredentialsMayGoTo(const std::string& url);
  bool IsRegistryHost(const UrlParts& parts);

  Reference reference_;
  RegistryOptions options_;
  std::mutex mutex_;  // guards what follows
  std::string base_url_;
  std::string authorization_;  // "Bearer ..." or "Basic ..."
  std::string ca_bundle_;      // system CAs plus options_.ca_pem, when that is set
};

}  // namespace banger::fetcher
