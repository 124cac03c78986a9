#include "fetcher/registry_client.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include <curl/curl.h>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "base/base64.h"
#include "base/digest.h"
#include "base/json.h"
#include "base/sha256.h"
#include "base/text.h"
#include "fetcher/auth_challenge.h"
#include "ipc/channel.h"

namespace banger::fetcher {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kMaxTokenResponse = 1 << 20;

std::string UrlEscape(const std::string& s) {
  char* escaped = curl_easy_escape(nullptr, s.c_str(), static_cast<int>(s.size()));
  std::string out(escaped ? escaped : "");
  curl_free(escaped);
  return out;
}

bool IsRedirect(long status) { return status == 301 || status == 302 || status == 303 || status == 307 || status == 308; }
bool IsTransient(long status) { return status == 408 || status == 429 || status / 100 == 5; }

// The registry's own error text ({"errors":[{"code","message"}]}), if it sent one.
std::string RegistryErrorText(const HttpResponse& r) {
  auto body = ParseJsonBounded(r.body.substr(0, 8192), 8);
  if (body && body->is_object() && body->contains("errors") && (*body)["errors"].is_array() &&
      !(*body)["errors"].empty() && (*body)["errors"][0].is_object()) {
    const auto& e = (*body)["errors"][0];
    auto field = [&](const char* key) { return e.contains(key) && e[key].is_string() ? e[key].get<std::string>() : ""; };
    const std::string message = field("message");
    // The registry's words, escaped and cut on a character boundary.
    return TerminalSafe(field("code") + (message.empty() ? "" : ": " + message), 300);
  }
  return "";
}

std::chrono::milliseconds Backoff(const RegistryOptions& options, int attempt, const HttpResponse* response) {
  if (response != nullptr) {
    std::string retry_after = response->Header("retry-after");
    if (!retry_after.empty() && std::all_of(retry_after.begin(), retry_after.end(), ::isdigit) && retry_after.size() < 6) {
      return std::chrono::seconds(std::stoi(retry_after));
    }
  }
  thread_local std::mt19937 rng(std::random_device{}());
  std::uniform_real_distribution<double> jitter(0.5, 1.5);
  double base = static_cast<double>(options.initial_backoff.count()) * (1 << std::min(attempt, 6));
  return std::chrono::milliseconds(static_cast<long>(std::min(base, 30000.0) * jitter(rng)));
}

}  // namespace

RegistryClient::RegistryClient(Reference reference, RegistryOptions options)
    : reference_(std::move(reference)), options_(std::move(options)) {
  if (!options_.ca_pem.empty()) {
    auto bundle = CaBundleWith(options_.ca_pem);
    if (bundle) ca_bundle_ = std::move(*bundle);
  }
}

Result<std::string> RegistryClient::RepositoryUrl() {
  std::lock_guard lock(mutex_);
  if (base_url_.empty()) {
    std::string host = reference_.ApiHost();
    std::string scheme = "https";
    if (options_.allow_plain_http) {
      // Docker's rule for insecure registries: HTTPS when it answers, else plain HTTP.
      // The probe only asks whether the host speaks TLS, so it skips verification (and
      // loading the CA bundle, ~20 ms): it sends no credentials, its handle and
      // connection end with it, and its answer is dropped. A host that completed a TLS
      // handshake stays HTTPS whatever came after (a certificate we do not trust, an
      // odd /v2/ answer), and the first real request, which verifies, says what is wrong.
      HttpClient probe(options_.gateway);
      HttpRequest ping{.url = "https://" + host + "/v2/", .verify_tls = false, .connect_timeout_s = 5};
      TransportError transport{Error{ErrorCode::kIo, ""}};
      if (!probe.Fetch(ping, 64 * 1024, &transport) && !transport.tls_handshake_done) scheme = "http";
    }
    base_url_ = scheme + "://" + host + "/v2/" + reference_.repository;
  }
  return base_url_;
}

std::string RegistryClient::CurrentAuthorization() {
  std::lock_guard lock(mutex_);
  return authorization_;
}

bool RegistryClient::IsRegistryHost(const UrlParts& parts) {
  auto registry = SplitUrl("https://" + reference_.ApiHost() + "/");
  if (!registry) return false;
  std::string h = parts.host_and_port;
  if ((parts.scheme == "https" && h.ends_with(":443")) || (parts.scheme == "http" && h.ends_with(":80"))) {
    h.resize(h.size() - (parts.scheme == "https" ? 4 : 3));
  }
  return h == registry->host_and_port;
}

bool RegistryClient::CredentialsMayGoTo(const std::string& url) {
  auto parts = SplitUrl(url);
  if (!parts || !IsRegistryHost(*parts)) return false;
  return parts->scheme == "https" || (parts->scheme == "http" && options_.allow_plain_http);
}

Result<void> RegistryClient::FetchToken(HttpClient& http, const std::string& realm, const std::string& service,
                                        const std::string& scope) {
  BANGER_ASSIGN_OR_RETURN(UrlParts where, SplitUrl(realm));
  const bool realm_ok = where.scheme == "https" || (where.scheme == "http" && IsLoopbackHost(where.host_and_port));
  if (!realm_ok) {
    return Error{ErrorCode::kInvalidArgument, reference_.registry + " named a token realm that is not https: " + realm.substr(0, 200)};
  }
  const Credentials& creds = options_.credentials;
  HttpRequest request;
  std::string query = "service=" + UrlEscape(service) + "&scope=" + UrlEscape(scope);
  if (!creds.identity_token.empty()) {
    request.method = "POST";
    request.url = realm;
    request.headers = {"Content-Type: application/x-www-form-urlencoded"};
    request.body = "grant_type=refresh_token&client_id=banger&refresh_token=" + UrlEscape(creds.identity_token) +
                   "&" + query;
  } else {
    request.url = realm + (realm.find('?') == std::string::npos ? "?" : "&") + query;
    if (!creds.username.empty()) {
      request.headers.push_back("Authorization: Basic " + EncodeBase64(creds.username + ":" + creds.password));
    }
  }
  request.ca_pem = ca_bundle_;
  BANGER_ASSIGN_OR_RETURN(HttpResponse response, http.Fetch(request, kMaxTokenResponse));
  if (response.status == 401 || response.status == 403) {
    return Error{ErrorCode::kInvalidArgument, "unauthorized: " + reference_.registry +
                                                  " rejected the credentials (token request answered " +
                                                  std::to_string(response.status) + ")"};
  }
  if (response.status != 200) {
    return Error{ErrorCode::kIo, "token request to " + realm.substr(0, 200) + " answered " + std::to_string(response.status)};
  }
  auto body = ParseJsonBounded(response.body, 16);
  if (!body || !body->is_object()) return Error{ErrorCode::kMalformed, "token response from " + realm.substr(0, 200) + " is not JSON"};
  std::string token = body->value("token", "");
  if (token.empty()) token = body->value("access_token", "");
  if (token.empty() || token.size() > 64 * 1024 || token.find_first_of("\r\n") != std::string::npos) {
    return Error{ErrorCode::kMalformed, "token response from " + realm.substr(0, 200) + " holds no usable token"};
  }
  std::lock_guard lock(mutex_);
  authorization_ = "Bearer " + token;
  return {};
}

Result<void> RegistryClient::Negotiate(HttpClient& http, const HttpResponse& challenge,
                                       const std::string& failed_authorization) {
  {
    std::lock_guard lock(mutex_);
    // Another download renewed the token meanwhile: just use it.
    if (authorization_ != failed_authorization) return {};
  }
  std::vector<AuthChallenge> challenges = ParseAuthChallenges(challenge.Header("www-authenticate"));
  for (const AuthChallenge& c : challenges) {
    if (c.scheme != "bearer" || c.Param("realm").empty()) continue;
    std::string scope = c.Param("scope");
    if (scope.empty()) scope = "repository:" + reference_.repository + ":pull";
    return FetchToken(http, c.Param("realm"), c.Param("service"), scope);
  }
  for (const AuthChallenge& c : challenges) {
    if (c.scheme != "basic") continue;
    const Credentials& creds = options_.credentials;
    if (creds.username.empty()) break;
    std::string basic = "Basic " + EncodeBase64(creds.username + ":" + creds.password);
    if (basic == failed_authorization) break;  // already refused
    std::lock_guard lock(mutex_);
    authorization_ = basic;
    return {};
  }
  const bool had_credentials = !options_.credentials.empty();
  return Error{ErrorCode::kInvalidArgument,
               "unauthorized: " + reference_.registry +
                   (had_credentials ? " rejected the credentials for " + reference_.repository
                                    : " requires credentials for " + reference_.repository +
                                          " (docker login, or DOCKER_CONFIG)")};
}

Result<HttpResponse> RegistryClient::Exchange(HttpClient& http, HttpRequest request, size_t max_body,
                                              const HttpClient::Sink* sink, const Prepare& prepare,
                                              const std::string& what) {
  const auto started = Clock::now();
  const std::vector<std::string> base_headers = request.headers;
  int redirects = 0;
  bool negotiated = false;
  for (int attempt = 0;; ++attempt) {
    request.headers = base_headers;
    const std::string authorization = CurrentAuthorization();
    const bool to_registry = CredentialsMayGoTo(request.url);
    if (to_registry && !authorization.empty()) request.headers.push_back("Authorization: " + authorization);
    request.ca_pem = ca_bundle_;
      if (prepare) prepare(request);

    TransportError transport{Error{ErrorCode::kIo, ""}, false};
    auto result = sink != nullptr ? http.Stream(request, *sink, &transport) : http.Fetch(request, max_body);
    const bool out_of_budget =
        attempt + 1 >= options_.max_attempts || Clock::now() - started > options_.max_retry_time;
    if (!result) {
      if (transport.retryable && !out_of_budget) {
        std::this_thread::sleep_for(Backoff(options_, attempt, nullptr));
        continue;
      }
      return result.error().Wrap(what);
    }
    HttpResponse& response = *result;
    if (response.status == 401 && to_registry && !negotiated) {
      negotiated = true;
      BANGER_TRY(Negotiate(http, response, authorization));
      continue;
    }
    if (IsRedirect(response.status)) {
      if (++redirects > options_.max_redirects) {
        return Error{ErrorCode::kIo, what + ": more than " + std::to_string(options_.max_redirects) + " redirects"};
      }
      BANGER_ASSIGN_OR_RETURN(std::string next, ResolveUrl(request.url, response.Header("location")));
      BANGER_ASSIGN_OR_RETURN(UrlParts parts, SplitUrl(next));
      if (parts.scheme != "https" && !(parts.scheme == "http" && IsLoopbackHost(parts.host_and_port)) &&
          !(parts.scheme == "http" && CredentialsMayGoTo(next))) {
        return Error{ErrorCode::kIo, what + ": refusing a redirect to a non-https URL " + next.substr(0, 200)};
      }
      request.url = next;
      --attempt;  // a redirect is not a failed attempt
      continue;
    }
    if (IsTransient(response.status) && !out_of_budget) {
      std::this_thread::sleep_for(Backoff(options_, attempt, &response));
      continue;
    }
    return std::move(response);
  }
}

Result<RegistryClient::Fetched> RegistryClient::FetchManifest(const std::string& selector) {
  BANGER_ASSIGN_OR_RETURN(std::string base, RepositoryUrl());
  const std::string where = reference_.registry + "/" + reference_.repository + (selector.starts_with("sha256:") ? "@" : ":") + selector;
  HttpClient http(options_.gateway);
  HttpRequest request{.url = base + "/manifests/" + selector, .headers = {"Accept: " + std::string(media::kAccept)}};
  BANGER_ASSIGN_OR_RETURN(HttpResponse response,
                          Exchange(http, request, options_.limits.max_bytes, nullptr, nullptr, "manifest of " + where));
  if (response.status == 404) {
    return Error{ErrorCode::kNotFound, "manifest unknown: " + where + " not found"};
  }
  if (response.status == 401 || response.status == 403) {
    return Error{ErrorCode::kInvalidArgument, "unauthorized: " + reference_.registry + " denied " + where +
                                                  (RegistryErrorText(response).empty() ? "" : " (" + RegistryErrorText(response) + ")")};
  }
  if (response.status != 200) {
    std::string detail = RegistryErrorText(response);
    return Error{ErrorCode::kIo, "manifest of " + where + ": registry answered " + std::to_string(response.status) +
                                     (detail.empty() ? "" : " (" + detail + ")")};
  }
  Fetched fetched{std::move(response), ""};
  fetched.digest = Sha256DigestOf(fetched.response.body);
  if (selector.starts_with("sha256:") && fetched.digest != selector) {
    return Error{ErrorCode::kMalformed, "manifest of " + where + " has digest " + fetched.digest + ", not the one asked for"};
  }
  std::string claimed = fetched.response.Header("docker-content-digest");
  if (IsValidDigest(claimed) && claimed != fetched.digest) {
    return Error{ErrorCode::kMalformed, "manifest of " + where + ": Docker-Content-Digest " + claimed +
                                            " does not match its bytes (" + fetched.digest + ")"};
  }
  return fetched;
}

Result<ResolvedDocuments> RegistryClient::Resolve(const Platform& want) {
  std::string selector = reference_.ManifestSelector();
  const std::string where = reference_.String();
  ResolvedDocuments resolved;
  std::optional<Descriptor> chosen;  // the index entry that named this document
  for (size_t depth = 0; depth <= ipc::kMaxIndexDepth; ++depth) {
    BANGER_ASSIGN_OR_RETURN(Fetched fetched, FetchManifest(selector));
    if (chosen && chosen->size != fetched.response.body.size()) {
      return Error{ErrorCode::kMalformed, "manifest of " + where + ": the index says " + chosen->digest + " is " +
                                              std::to_string(chosen->size) + " bytes, the registry sent " +
                                              std::to_string(fetched.response.body.size())};
    }
    BANGER_ASSIGN_OR_RETURN(Document doc, ParseDocument(fetched.response.body, fetched.response.Header("content-type"),
                                                        options_.limits, "manifest of " + where));
    if (doc.kind == DocumentKind::kIndex) {
      BANGER_ASSIGN_OR_RETURN(chosen, SelectPlatform(doc, want, where));
      selector = chosen->digest;
      resolved.indexes.push_back(std::move(fetched.response.body));
      continue;
    }
    resolved.manifest = std::move(fetched.response.body);
    resolved.manifest_media_type = doc.media_type;
    return resolved;
  }
  return Error{ErrorCode::kMalformed, where + ": indexes nested deeper than " + std::to_string(ipc::kMaxIndexDepth)};
}

namespace {

// The path of a Link header's rel="next" target (RFC 8288), when it is a path of this
// registry's referrers of `digest` ("/v2/REPO/referrers/DIGEST?..."); else empty.
std::string NextPage(const std::string& link, const std::string& repository_path, const std::string& digest) {
  const size_t open = link.find('<'), close = link.find('>');
  if (open != 0 || close == std::string::npos || link.find("rel=\"next\"", close) == std::string::npos) return "";
  std::string target = link.substr(1, close - 1);
  const std::string prefix = repository_path + "/referrers/" + digest;
  if (target.rfind(prefix, 0) != 0 || (target.size() > prefix.size() && target[prefix.size()] != '?')) return "";
  for (char c : target) {
    if (c <= ' ' || c == '#' || c == '\\' || c > '~') return "";
  }
  return target;
}

}  // namespace

Result<std::optional<RegistryClient::FetchedDocument>> RegistryClient::FetchDocument(const std::string& selector, bool referrers,
                                                                                     const std::string& artifact_type,
                                                                                     const std::string& page) {
  const bool digest = IsValidDigest(selector);
  if (referrers ? !digest : !(digest || IsValidTag(selector))) {
    return Error{ErrorCode::kInvalidArgument, "'" + selector.substr(0, 80) + "' is not a " + (referrers ? "digest" : "tag or digest")};
  }
  if (!referrers) {
    auto fetched = FetchManifest(selector);
    if (!fetched && fetched.error().code == ErrorCode::kNotFound) return std::optional<FetchedDocument>();
    if (!fetched) return fetched.error();
    return std::optional<FetchedDocument>(FetchedDocument{std::move(fetched->response.body), fetched->response.Header("content-type"), ""});
  }
  BANGER_ASSIGN_OR_RETURN(std::string base, RepositoryUrl());
  // base is scheme://host/v2/REPO: the registry's origin, and the repository's path.
  const size_t path_at = base.find("/v2/");
  const std::string origin = base.substr(0, path_at), repository_path = base.substr(path_at);
  std::string url = base + "/referrers/" + selector;
  if (!page.empty()) {
    if (NextPage("<" + page + ">; rel=\"next\"", repository_path, selector) != page) {
      return Error{ErrorCode::kInvalidArgument, "a referrers page outside " + repository_path + "/referrers/" + selector};
    }
    url = origin + page;
  } else if (!artifact_type.empty()) {
    url += "?artifactType=" + UrlEscape(artifact_type);
  }
  const std::string where = "referrers of " + reference_.registry + "/" + reference_.repository + "@" + selector;
  HttpClient http(options_.gateway);
  HttpRequest request{.url = url, .headers = {"Accept: " + std::string(media::kOciIndex)}};
  BANGER_ASSIGN_OR_RETURN(HttpResponse response, Exchange(http, request, options_.limits.max_bytes, nullptr, nullptr, where));
  // A registry without the API answers 404 (the spec), or 400, 405 or 501 (some do).
  const int status = response.status;
  if (status == 404 || status == 400 || status == 405 || status == 501) return std::optional<FetchedDocument>();
  if (status != 200) return Error{ErrorCode::kIo, where + ": registry answered " + std::to_string(status)};
  std::string next = NextPage(response.Header("link"), repository_path, selector);
  return std::optional<FetchedDocument>(FetchedDocument{std::move(response.body), response.Header("content-type"), std::move(next)});
}

Result<uint64_t> RegistryClient::DownloadBlob(const Descriptor& blob, int fd, const Progress& progress) {
  BANGER_TRY(CheckDigest(blob.digest, "blob request"));
  BANGER_ASSIGN_OR_RETURN(std::string base, RepositoryUrl());
  const std::string what = "layer " + blob.digest;
  HttpClient http(options_.gateway);
  uint64_t written = 0;  // bytes already in the pipe: never sent twice
  uint64_t asked_from = 0;
  uint64_t to_skip = 0;  // of a response that starts again from byte 0
  bool first_chunk = true;
  std::string failure;
  std::optional<Error> write_error;  // the broker stopped reading (it failed, or was stopped)

  // Each attempt after a dropped connection asks for the rest of the blob.
  Prepare prepare = [&](HttpRequest& request) {
    asked_from = written;
    first_chunk = true;
    if (written > 0) request.headers.push_back("Range: bytes=" + std::to_string(written) + "-");
  };
  HttpClient::Sink sink = [&](const HttpResponse& head, const char* data, size_t size) {
    if (first_chunk) {
      first_chunk = false;
      to_skip = 0;
      if (head.status == 206) {
        // 206 continues where we stopped; its Content-Range must say so.
        std::string range = head.Header("content-range");
        if (range.rfind("bytes " + std::to_string(asked_from) + "-", 0) != 0) {
          failure = what + ": the registry resumed at the wrong offset (" + range.substr(0, 80) + ")";
          return false;
        }
      } else {
        to_skip = written;  // 200: the whole blob again; what the broker has is skipped
      }
    }
    const size_t skipped = static_cast<size_t>(std::min<uint64_t>(to_skip, size));
    to_skip -= skipped;
    data += skipped;
    size -= skipped;
    if (written + size > blob.size) {
      failure = what + ": the registry sent more than the " + std::to_string(blob.size) +
                " bytes its descriptor declares";
      return false;
    }
    if (auto put = WriteAll(fd, std::string_view(data, size), what + ": handing the bytes to the broker"); !put) {
      write_error = put.error();
      return false;
    }
    written += size;
    if (progress) progress(written);
    return true;
  };
  for (int clean_ends = 0;; ++clean_ends) {
    HttpRequest request{.url = base + "/blobs/" + blob.digest};
    auto response = Exchange(http, request, 0, &sink, prepare, what);
    if (write_error) return *write_error;
    if (!failure.empty()) return Error{ErrorCode::kMalformed, failure};
    if (!response) return response.error();
    if (response->status == 404) return Error{ErrorCode::kNotFound, what + ": blob unknown to " + reference_.registry};
    if (response->status == 401 || response->status == 403) {
      return Error{ErrorCode::kInvalidArgument, "unauthorized: " + reference_.registry + " denied " + what};
    }
    if (response->status != 200 && response->status != 206) {
      return Error{ErrorCode::kIo, what + ": registry answered " + std::to_string(response->status)};
    }
    if (written == blob.size) return written;
    // The body ended cleanly but short (no length was promised): ask for the rest.
    if (clean_ends + 1 >= options_.max_attempts) {
      return Error{ErrorCode::kTruncated, what + ": only " + std::to_string(written) + " of " +
                                              std::to_string(blob.size) + " bytes arrived"};
    }
  }
}

}  // namespace banger::fetcher
