#include "fetcher/http.h"

#include "base/text.h"
#include "fetcher/network_gateway.h"

#include <curl/curl.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>

namespace banger::fetcher {
namespace {

constexpr size_t kMaxErrorBody = 64 * 1024;
constexpr long kReceiveBufferBytes = 256 * 1024;

struct Transfer {
  HttpResponse* response;
  size_t max_body;
  const HttpClient::Sink* sink;
  bool too_large = false;
  bool sink_refused = false;
  NetworkGateway* gateway = nullptr;
  std::string connect_host;             // the URL's host, or the proxy's
  std::optional<Error> refused_address;  // the first address the gateway refused
  std::optional<Error> connect_failure;  // the last connection the gateway could not make
};

// libcurl's open-socket callback: the broker connects, after applying the egress rule.
curl_socket_t OpenThroughGateway(void* user, curlsocktype, curl_sockaddr* address) {
  auto* t = static_cast<Transfer*>(user);
  const auto ip = IpAddressOf(&address->addr);
  if (!ip) return CURL_SOCKET_BAD;
  const uint16_t port = ntohs(address->family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&address->addr)->sin6_port
                                                          : reinterpret_cast<sockaddr_in*>(&address->addr)->sin_port);
  auto socket = t->gateway->Connect(t->connect_host, *ip, port);
  if (!socket) {
    auto& slot = socket.error().code == ErrorCode::kInvalidArgument ? t->refused_address : t->connect_failure;
    if (!slot || &slot == &t->connect_failure) slot = socket.error();
    return CURL_SOCKET_BAD;
  }
  return socket->release();
}

// The gateway's sockets arrive connected.
int AlreadyConnected(void*, curl_socket_t, curlsocktype) { return CURL_SOCKOPT_ALREADY_CONNECTED; }

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) {
    // A status line starts a new response (after 100 Continue, say): the body callback
    // needs its status to choose between the sink and the bounded buffer.
    t->response->headers.clear();
    size_t space = line.find(' ');
    t->response->status = space == std::string::npos ? 0 : std::atol(line.c_str() + space + 1);
    return size * count;
  }
  size_t colon = line.find(':');
  if (colon == std::string::npos) return size * count;
  std::string name = AsciiLower(line.substr(0, colon));
  std::string value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.erase(0, 1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) value.pop_back();
  auto& slot = t->response->headers[name];
  slot = slot.empty() ? value : slot + ", " + value;
  return size * count;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (t->sink != nullptr && t->response->status / 100 == 2) {
    if (!(*t->sink)(*t->response, data, n)) {
      t->sink_refused = true;
      return 0;
    }
    return n;
  }
  const size_t limit = t->sink != nullptr ? kMaxErrorBody : t->max_body;
  if (t->response->body.size() + n > limit) {
    t->too_large = true;
    return 0;
  }
  t->response->body.append(data, n);
  return n;
}

bool Retryable(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
      return true;
    default:
      return false;
  }
}

// What a failed transfer says: libcurl's words and detail, with the usual cause named
// where there is one: a registry that speaks plain HTTP, a certificate no CA here
// vouches for, a proxy that failed (named, rather than the registry behind it).
std::string DescribeFailure(CURLcode rc, const std::string& detail, const std::string& url, const std::string& proxy,
                            const std::optional<Error>& connect_failure) {
  const auto parts = SplitUrl(url);
  const std::string host = parts ? parts->host_and_port : url;
  // libcurl's detail ("SSL certificate problem: ...") says more than its code's words.
  std::string what = detail.empty() ? curl_easy_strerror(rc) : detail;
  if (rc == CURLE_COULDNT_CONNECT && connect_failure) what = connect_failure->message;
  const bool through_proxy = !proxy.empty() && (rc == CURLE_COULDNT_CONNECT || rc == CURLE_RECV_ERROR ||
                                                detail.find("CONNECT") != std::string::npos);
  const bool proxy_failed = rc == CURLE_COULDNT_RESOLVE_PROXY || rc == CURLE_PROXY || through_proxy;
  if (proxy_failed) {
    // Only where the proxy is: a user:password in it is nobody's to read in an error.
    std::string shown = proxy;
    const size_t authority = shown.find("://") == std::string::npos ? 0 : shown.find("://") + 3;
    if (const size_t at = shown.find('@', authority); at != std::string::npos) shown.erase(authority, at + 1 - authority);
    return "the proxy " + shown + " failed: " + what + " (asked for " + url +
           "; the proxy comes from https_proxy, http_proxy or all_proxy, and no_proxy exempts a host)";
  }
  if (rc == CURLE_SSL_CONNECT_ERROR && detail.find("wrong version number") != std::string::npos) {
    return "server gave HTTP response to HTTPS client (" + url + "): " + host +
           " speaks plain HTTP, which banger uses only for loopback registries and for those named by "
           "--insecure-registry " + host + " or the config's insecure_registries";
  }
  if (rc == CURLE_PEER_FAILED_VERIFICATION) {
    return "the TLS certificate of " + host + " is not trusted: " + what + " (" + url +
           "); put the CA that signed it in /etc/docker/certs.d/" + host + "/ca.crt";
  }
  return what + " (" + url + ")";
}

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

std::string HttpResponse::Header(const std::string& lowercase_name) const {
  auto it = headers.find(lowercase_name);
  return it == headers.end() ? std::string() : it->second;
}

HttpClient::HttpClient(NetworkGateway* gateway) : curl_(curl_easy_init()), gateway_(gateway) {}
HttpClient::~HttpClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

// Through the broker: the target (or the proxy) resolved by the gateway and handed to
// libcurl as CURLOPT_RESOLVE, so that libcurl never resolves a name itself; each
// connection opened by the gateway. Through a proxy, the gateway is asked whether the
// target may be asked for.
static Result<std::unique_ptr<curl_slist, SlistDeleter>> RouteThroughGateway(CURL* curl, const std::string& url,
                                                                              const std::string& proxy,
                                                                              Transfer& transfer) {
  BANGER_ASSIGN_OR_RETURN(UrlParts target, SplitUrl(url));
  UrlParts connect_to = target;
  if (!proxy.empty()) {
    BANGER_TRY(transfer.gateway->Permit(HostOf(target), PortOf(target)));
    BANGER_ASSIGN_OR_RETURN(connect_to, SplitUrl(proxy.find("://") == std::string::npos ? "http://" + proxy : proxy));
  }
  // libcurl's default proxy port is 1080 (443 for an https proxy).
  const uint16_t port = PortOf(connect_to, proxy.empty() || connect_to.scheme == "https" ? 0 : 1080);
  transfer.connect_host = HostOf(connect_to);
  BANGER_ASSIGN_OR_RETURN(std::vector<IpAddress> addresses, transfer.gateway->Resolve(transfer.connect_host));
  std::unique_ptr<curl_slist, SlistDeleter> resolve;
  if (!LiteralHostAddress(transfer.connect_host)) {
    std::string entry = transfer.connect_host + ":" + std::to_string(port) + ":";
    for (size_t i = 0; i < addresses.size(); ++i) {
      const std::string text = addresses[i].String();
      entry += (i == 0 ? "" : ",") + (addresses[i].family == AF_INET6 ? "[" + text + "]" : text);
    }
    resolve.reset(curl_slist_append(nullptr, entry.c_str()));
    curl_easy_setopt(curl, CURLOPT_RESOLVE, resolve.get());
  }
  curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, OpenThroughGateway);
  curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_SOCKOPTFUNCTION, AlreadyConnected);
  return resolve;
}

static Result<HttpResponse> Perform(void* handle, NetworkGateway* gateway, const HttpRequest& request,
                                    Transfer& transfer, TransportError* transport) {
  CURL* curl = static_cast<CURL*>(handle);
  if (curl == nullptr) return Error{ErrorCode::kIo, "libcurl could not create a handle"};
  curl_easy_reset(curl);
  std::unique_ptr<curl_slist, SlistDeleter> headers;
  for (const std::string& h : request.headers) headers.reset(curl_slist_append(headers.release(), h.c_str()));
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, request.connect_timeout_s);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, request.low_speed_time_s);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, request.verify_tls ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, request.verify_tls ? 2L : 0L);
  curl_blob ca{const_cast<char*>(request.ca_pem.data()), request.ca_pem.size(), CURL_BLOB_NOCOPY};
  if (!request.ca_pem.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &ca);
  // Larger reads than libcurl's 16 KiB: a blob crosses the socket and the broker's
  // pipe in a sixteenth of the system calls and wake-ups.
  curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, kReceiveBufferBytes);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "banger/0.1");
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, nullptr);  // bytes as stored: digests cover them
  const std::string proxy = ProxyFor(request.url);
  curl_easy_setopt(curl, CURLOPT_PROXY, proxy.c_str());  // "": none, whatever libcurl would read
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "");            // ProxyFor applied no_proxy already
  transfer.gateway = gateway;
  std::unique_ptr<curl_slist, SlistDeleter> resolve;
  if (gateway != nullptr) {
    BANGER_ASSIGN_OR_RETURN(resolve, RouteThroughGateway(curl, request.url, proxy, transfer));
  }
  if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (request.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.body.size()));
  }
  char detail[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, detail);
  CURLcode rc = curl_easy_perform(curl);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  curl_off_t handshake_done_us = 0;
  curl_easy_getinfo(curl, CURLINFO_APPCONNECT_TIME_T, &handshake_done_us);
  if (transport != nullptr) transport->tls_handshake_done = handshake_done_us > 0;
  if (transfer.refused_address && rc != CURLE_OK) return *transfer.refused_address;
  if (transfer.too_large) {
    return Error{ErrorCode::kOversized, request.url + ": response larger than " + std::to_string(transfer.max_body) + " bytes"};
  }
  if (transfer.sink_refused) return Error{ErrorCode::kIo, "transfer stopped by its consumer"};
  if (rc != CURLE_OK) {
    Error e{ErrorCode::kIo, DescribeFailure(rc, detail, request.url, proxy, transfer.connect_failure)};
    if (transport != nullptr) {
      transport->error = e;
      transport->retryable = Retryable(rc);
      transport->curl_code = static_cast<int>(rc);
    }
    return e;
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  transfer.response->status = status;
  return std::move(*transfer.response);
}

Result<HttpResponse> HttpClient::Fetch(const HttpRequest& request, size_t max_body, TransportError* transport) {
  HttpResponse response;
  Transfer transfer{&response, max_body, nullptr};
  return Perform(curl_, gateway_, request, transfer, transport);
}

Result<HttpResponse> HttpClient::Stream(const HttpRequest& request, const Sink& sink, TransportError* transport) {
  HttpResponse response;
  Transfer transfer{&response, kMaxErrorBody, &sink};
  return Perform(curl_, gateway_, request, transfer, transport);
}

namespace {

std::string Environment(const char* lower, const char* upper) {
  for (const char* name : {lower, upper}) {
    if (name == nullptr) continue;
    if (const char* value = std::getenv(name); value != nullptr && *value != '\0') return value;
  }
  return {};
}

// no_proxy as libcurl 7.88 reads it: "*" alone, or hosts and domain suffixes separated
// by commas, spaces or tabs (".example.com" and "example.com" both match
// "a.example.com"; a trailing dot on either side is ignored). CIDR entries are not read.
bool Exempt(std::string host, const std::string& no_proxy) {
  std::string all = no_proxy;
  while (!all.empty() && (all.back() == ' ' || all.back() == '\t')) all.pop_back();
  while (!all.empty() && (all.front() == ' ' || all.front() == '\t')) all.erase(0, 1);
  if (all == "*") return true;
  if (!host.empty() && host.back() == '.') host.pop_back();
  size_t start = 0;
  while (start < all.size()) {
    size_t end = all.find_first_of(", \t", start);
    if (end == std::string::npos) end = all.size();
    std::string entry = AsciiLower(all.substr(start, end - start));
    if (!entry.empty() && entry.front() == '.') entry.erase(0, 1);
    if (!entry.empty() && entry.back() == '.') entry.pop_back();
    if (!entry.empty() && (host == entry || (host.size() > entry.size() && host.ends_with("." + entry)))) return true;
    start = end + 1;
  }
  return false;
}

}  // namespace

std::string HostOf(const UrlParts& parts) { return std::string(HostWithoutPort(parts.host_and_port)); }

uint16_t PortOf(const UrlParts& parts, uint16_t otherwise) {
  const std::string& h = parts.host_and_port;
  const size_t colon = h.rfind(':');
  const size_t bracket = h.rfind(']');
  if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
    return static_cast<uint16_t>(std::atoi(h.c_str() + colon + 1));
  }
  if (otherwise != 0) return otherwise;
  return parts.scheme == "http" ? 80 : 443;
}

std::string ProxyFor(const std::string& url) {
  auto parts = SplitUrl(url);
  if (!parts) return {};
  const std::string host = HostOf(*parts);
  if (Exempt(host, Environment("no_proxy", "NO_PROXY"))) return {};
  // libcurl reads http_proxy only in lower case (HTTP_PROXY may be a CGI header).
  std::string proxy = parts->scheme == "https" ? Environment("https_proxy", "HTTPS_PROXY")
                                               : Environment("http_proxy", nullptr);
  return proxy.empty() ? Environment("all_proxy", "ALL_PROXY") : proxy;
}

Result<std::string> CaBundleWith(const std::string& extra_pem) {
  std::string bundle;
  curl_version_info_data* info = curl_version_info(CURLVERSION_NOW);
  if (info != nullptr && info->cainfo != nullptr) {
    if (FILE* f = std::fopen(info->cainfo, "rb")) {
      char buffer[65536];
      size_t n;
      while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0 && bundle.size() < (8u << 20)) bundle.append(buffer, n);
      std::fclose(f);
    }
  }
  return bundle + "\n" + extra_pem;
}

Result<std::string> ResolveUrl(const std::string& base, const std::string& location) {
  CURLU* url = curl_url();
  std::unique_ptr<CURLU, void (*)(CURLU*)> guard(url, curl_url_cleanup);
  if (curl_url_set(url, CURLUPART_URL, base.c_str(), 0) != CURLUE_OK ||
      curl_url_set(url, CURLUPART_URL, location.c_str(), CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
    return Error{ErrorCode::kMalformed, "cannot resolve redirect '" + location.substr(0, 200) + "'"};
  }
  char* full = nullptr;
  if (curl_url_get(url, CURLUPART_URL, &full, 0) != CURLUE_OK) {
    return Error{ErrorCode::kMalformed, "cannot resolve redirect '" + location.substr(0, 200) + "'"};
  }
  std::string out(full);
  curl_free(full);
  return out;
}

Result<UrlParts> SplitUrl(const std::string& text) {
  CURLU* url = curl_url();
  std::unique_ptr<CURLU, void (*)(CURLU*)> guard(url, curl_url_cleanup);
  if (curl_url_set(url, CURLUPART_URL, text.c_str(), CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
    return Error{ErrorCode::kMalformed, "not a URL: '" + text.substr(0, 200) + "'"};
  }
  UrlParts parts;
  char* value = nullptr;
  if (curl_url_get(url, CURLUPART_SCHEME, &value, 0) == CURLUE_OK) {
    parts.scheme = AsciiLower(value);
    curl_free(value);
  }
  if (curl_url_get(url, CURLUPART_HOST, &value, 0) != CURLUE_OK) {
    return Error{ErrorCode::kMalformed, "URL without a host: '" + text.substr(0, 200) + "'"};
  }
  parts.host_and_port = AsciiLower(value);
  curl_free(value);
  if (curl_url_get(url, CURLUPART_PORT, &value, 0) == CURLUE_OK) {
    parts.host_and_port += ":" + std::string(value);
    curl_free(value);
  }
  return parts;
}

}  // namespace banger::fetcher
