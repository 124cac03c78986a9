#include "fetcher/url_download.h"

#include <unistd.h>

#include <chrono>
#include <optional>
#include <thread>

#include "base/fd.h"
#include "fetcher/http.h"
#include "base/reference.h"

namespace banger::fetcher {
namespace {

constexpr int kMaxRedirects = 5;
constexpr int kMaxAttempts = 3;

Result<void> CheckScheme(const std::string& url) {
  BANGER_ASSIGN_OR_RETURN(UrlParts parts, SplitUrl(url));
  if (parts.scheme == "https") return {};
  if (parts.scheme == "http" && IsLoopbackHost(parts.host_and_port)) return {};
  return Error{ErrorCode::kInvalidArgument, "refusing " + url.substr(0, 200) + ": only https, or http to a loopback host"};
}

}  // namespace

Result<uint64_t> DownloadUrl(NetworkGateway* gateway, const std::string& url, uint64_t max_bytes, int fd,
                             const std::function<void(uint64_t bytes)>& progress) {
  std::string current = url;
  BANGER_TRY(CheckScheme(current));
  HttpClient http(gateway);
  int redirects = 0;
  uint64_t written = 0;  // bytes already in the pipe: a retry skips them
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    uint64_t seen = 0;  // of this attempt's response
    std::optional<Error> sink_error;
    HttpClient::Sink sink = [&](const HttpResponse&, const char* data, size_t size) {
      const size_t skipped = seen >= written ? 0 : static_cast<size_t>(std::min<uint64_t>(written - seen, size));
      seen += size;
      data += skipped;
      size -= skipped;
      if (written + size > max_bytes) {
        sink_error = Error{ErrorCode::kOversized, url.substr(0, 200) + " is larger than " + std::to_string(max_bytes) +
                                                      " bytes"};
        return false;
      }
      if (auto put = WriteAll(fd, std::string_view(data, size), "handing " + url.substr(0, 200) + " to the broker");
          !put) {
        sink_error = put.error();
        return false;
      }
      written += size;
      if (progress) progress(written);
      return true;
    };
    TransportError transport{Error{ErrorCode::kIo, ""}, false};
    auto response = http.Stream(HttpRequest{.url = current}, sink, &transport);
    if (sink_error) return *sink_error;
    if (!response) {
      if (transport.retryable && attempt + 1 < kMaxAttempts) {
        std::this_thread::sleep_for(std::chrono::milliseconds(500 << attempt));
        continue;
      }
      return response.error().Wrap("downloading " + current.substr(0, 200));
    }
    const long status = response->status;
    if (status == 301 || status == 302 || status == 303 || status == 307 || status == 308) {
      if (++redirects > kMaxRedirects) return Error{ErrorCode::kIo, url.substr(0, 200) + ": too many redirects"};
      BANGER_ASSIGN_OR_RETURN(current, ResolveUrl(current, response->Header("location")));
      BANGER_TRY(CheckScheme(current));
      --attempt;
      continue;
    }
    if (status >= 500 && attempt + 1 < kMaxAttempts) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500 << attempt));
      continue;
    }
    if (status != 200) {
      return Error{status == 404 ? ErrorCode::kNotFound : ErrorCode::kIo,
                   current.substr(0, 200) + " answered HTTP " + std::to_string(status)};
    }
    return written;
  }
  return Error{ErrorCode::kIo, "downloading " + url.substr(0, 200) + " kept failing"};
}

}  // namespace banger::fetcher
