#include "fetcher/http.h"

#include <curl/curl.h>

#include <sys/socket.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>

namespace banger::fetcher {
namespace {

constexpr size_t kMaxErrorBody = 64 * 1024;

struct Transfer {
  HttpResponse* response;
  size_t max_body;
  const HttpClient::Sink* sink;
  bool too_large = false;
  bool sink_refused = false;
  const HttpRequest* request = nullptr;
  std::optional<Error> refused_address;  // the first address check_address refused
};

// libcurl's open-socket callback: every address is checked before a socket exists.
curl_socket_t OpenCheckedSocket(void* user, curlsocktype, curl_sockaddr* address) {
  auto* t = static_cast<Transfer*>(user);
  if (auto ip = IpAddressOf(&address->addr); ip && t->request->check_address) {
    if (auto allowed = t->request->check_address(*ip); !allowed) {
      if (!t->refused_address) t->refused_address = allowed.error();
      return CURL_SOCKET_BAD;
    }
  }
  return ::socket(address->family, address->socktype, address->protocol);  // as libcurl's own
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

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
  std::string name = Lower(line.substr(0, colon));
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

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

std::string HttpResponse::Header(const std::string& lowercase_name) const {
  auto it = headers.find(lowercase_name);
  return it == headers.end() ? std::string() : it->second;
}

HttpClient::HttpClient() : curl_(curl_easy_init()) {}
HttpClient::~HttpClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

static Result<HttpResponse> Perform(void* handle, const HttpRequest& request, Transfer& transfer,
                                    TransportError* transport) {
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
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "banger/0.1");
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, nullptr);  // bytes as stored: digests cover them
  const std::string proxy = ProxyFor(request.url);
  curl_easy_setopt(curl, CURLOPT_PROXY, proxy.c_str());  // "": none, whatever libcurl would read
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "");            // ProxyFor applied no_proxy already
  transfer.request = &request;
  if (request.check_address && proxy.empty()) {
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, OpenCheckedSocket);
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, &transfer);
  } else if (request.check_address) {
    // The proxy resolves names; a literal address is checked here.
    BANGER_ASSIGN_OR_RETURN(UrlParts target, SplitUrl(request.url));
    if (auto literal = LiteralAddressOf(target)) BANGER_TRY(request.check_address(*literal));
  }
  if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (request.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.body.size()));
  }
  CURLcode rc = curl_easy_perform(curl);
  if (transfer.refused_address && rc != CURLE_OK) return *transfer.refused_address;
  if (transfer.too_large) {
    return Error{ErrorCode::kOversized, request.url + ": response larger than " + std::to_string(transfer.max_body) + " bytes"};
  }
  if (transfer.sink_refused) return Error{ErrorCode::kIo, "transfer stopped by its consumer"};
  if (rc != CURLE_OK) {
    Error e{ErrorCode::kIo, std::string(curl_easy_strerror(rc)) + " (" + request.url + ")"};
    if (transport != nullptr) {
      *transport = {e, Retryable(rc), static_cast<int>(rc), rc == CURLE_PEER_FAILED_VERIFICATION};
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
  return Perform(curl_, request, transfer, transport);
}

Result<HttpResponse> HttpClient::Stream(const HttpRequest& request, const Sink& sink, TransportError* transport) {
  HttpResponse response;
  Transfer transfer{&response, kMaxErrorBody, &sink};
  return Perform(curl_, request, transfer, transport);
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
    std::string entry = Lower(all.substr(start, end - start));
    if (!entry.empty() && entry.front() == '.') entry.erase(0, 1);
    if (!entry.empty() && entry.back() == '.') entry.pop_back();
    if (!entry.empty() && (host == entry || (host.size() > entry.size() && host.ends_with("." + entry)))) return true;
    start = end + 1;
  }
  return false;
}

}  // namespace

std::string HostOf(const UrlParts& parts) {
  const std::string& h = parts.host_and_port;
  if (!h.empty() && h.front() == '[') return h.substr(1, h.find(']') - 1);
  return h.substr(0, h.rfind(':'));
}

std::optional<IpAddress> LiteralAddressOf(const UrlParts& parts) {
  const std::string host = HostOf(parts);
  return ParseIpAddress(host == "localhost" ? "127.0.0.1" : host);
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
    parts.scheme = Lower(value);
    curl_free(value);
  }
  if (curl_url_get(url, CURLUPART_HOST, &value, 0) != CURLUE_OK) {
    return Error{ErrorCode::kMalformed, "URL without a host: '" + text.substr(0, 200) + "'"};
  }
  parts.host_and_port = Lower(value);
  curl_free(value);
  if (curl_url_get(url, CURLUPART_PORT, &value, 0) == CURLUE_OK) {
    parts.host_and_port += ":" + std::string(value);
    curl_free(value);
  }
  return parts;
}

}  // namespace banger::fetcher
