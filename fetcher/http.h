// A thin RAII layer over one libcurl easy handle. Redirects are never followed here:
// the registry client decides where credentials may go (invariant I6).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/address.h"
#include "base/result.h"

namespace banger::fetcher {

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;                  // for POST
  bool verify_tls = true;
  std::string ca_pem;                // trusted CAs (PEM) replacing the default bundle when set
  long connect_timeout_s = 30;
  long low_speed_time_s = 60;        // abort when under 1 byte/s for this long
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // lowercased names; repeated headers joined by ", "
  std::string body;                            // only for Fetch()

  std::string Header(const std::string& lowercase_name) const;
};

// Transport failure (no HTTP status): kIo with curl's words, `retryable` when a retry
// may help (reset, timeout, partial transfer).
struct TransportError {
  Error error;
  bool retryable = false;
  int curl_code = 0;
  bool tls_handshake_done = false;  // a TLS handshake completed (set on success too)
};

class NetworkGateway;

class HttpClient {
 public:
  // Names are resolved and connections made through `gateway` (the broker's, which
  // applies the egress rule); null lets libcurl do both, for code outside the sandbox.
  explicit HttpClient(NetworkGateway* gateway);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Buffers the body, refusing more than max_body bytes.
  Result<HttpResponse> Fetch(const HttpRequest& request, size_t max_body, TransportError* transport = nullptr);

  // Streams a 2xx body to `sink`, which sees the response's status and headers and
  // returns false to abort. Non-2xx bodies are buffered (bounded) into the response
  // instead. `transport` is set on curl failures.
  using Sink = std::function<bool(const HttpResponse& head, const char* data, size_t size)>;
  Result<HttpResponse> Stream(const HttpRequest& request, const Sink& sink, TransportError* transport);

 private:
  void* curl_;
  NetworkGateway* gateway_;
};

// The proxy the environment names for `url` (http_proxy, https_proxy/HTTPS_PROXY,
// all_proxy/ALL_PROXY, less no_proxy/NO_PROXY: "*", or a host or domain suffix), as
// libcurl reads them; empty for none. The client sets it explicitly, so that the egress
// check knows whether the address it sees is the target's or the proxy's.
std::string ProxyFor(const std::string& url);

// Resolves `location` (absolute or relative) against `base`.
Result<std::string> ResolveUrl(const std::string& base, const std::string& location);
// "https", "host[:port]" of a URL; errors for anything unparsable.
struct UrlParts {
  std::string scheme;
  std::string host_and_port;  // lowercased host, port only when given
};
Result<UrlParts> SplitUrl(const std::string& url);
// The host of a URL without its port or an IPv6 address's brackets.
std::string HostOf(const UrlParts& parts);
// The port a URL names; else `otherwise`, or with 0 its scheme's (443, 80).
uint16_t PortOf(const UrlParts& parts, uint16_t otherwise = 0);

// The system CA bundle libcurl uses by default, followed by `extra_pem`: what a registry
// with a private CA needs (docker's certs.d adds to the system pool the same way).
Result<std::string> CaBundleWith(const std::string& extra_pem);

}  // namespace banger::fetcher
