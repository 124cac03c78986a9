#include "broker/pull/url_download.h"

#include <sys/mman.h>

#include "base/fd.h"
#include "broker/pull/helper_start.h"
#include "ipc/fetch_protocol.h"

namespace banger::broker {
namespace {

constexpr int kSilenceTimeoutMs = 15 * 60 * 1000;

}  // namespace

Result<uint64_t> DownloadUrl(const HelperLauncher& launcher, const std::string& url, uint64_t max_bytes,
                             const PipeReceiver& receive, const std::function<void(uint64_t bytes)>& progress) {
  // The operator's own URL (the catalog's): any address it or its redirects lead to.
  BANGER_ASSIGN_OR_RETURN(GatedFetcher gated, StartGatedFetcher(launcher, EgressPolicy{.any_address = true}));
  security::SandboxedChild& fetcher = gated.child;
  BANGER_ASSIGN_OR_RETURN(PipeDownload download, PipeDownload::Create(receive, max_bytes, url));
  ipc::Message request = ipc::Message::Make(ipc::MessageType::kFetchUrl, ipc::Encode(ipc::UrlRequest{1, url, max_bytes}));
  request.fds.push_back(download.TakeWriteEnd());
  BANGER_TRY(fetcher.Send(request));
  request.fds.clear();  // the fetcher's is the only write end
  auto broke = [&](const Error& error) {
    return error.code == ErrorCode::kMalformed ? fetcher.BrokeProtocol(error.message) : error;
  };
  for (;;) {
    std::vector<int> watched;
    if (download.watch_fd() >= 0) watched.push_back(download.watch_fd());
    BANGER_ASSIGN_OR_RETURN(security::SandboxedChild::Awaited heard, fetcher.Await(watched, kSilenceTimeoutMs));
    if (!heard.ready.empty()) {
      auto moved = download.Drain();
      if (!moved) return broke(moved.error());
      if (*moved > 0 && progress) progress(download.received());
    }
    if (!heard.message) continue;
    BANGER_TRY(fetcher.CheckExpected(*heard.message, {ipc::MessageType::kBlobDone}));
    auto report = ipc::Decode<ipc::BlobDone>(heard.message->body);
    if (!report) return fetcher.BrokeProtocol(report.error().message);
    if (report->id != 1) return fetcher.BrokeProtocol("it reported on a download nobody asked for");
    if (auto finished = download.Finish(report->bytes); !finished) return broke(finished.error());
    if (progress) progress(download.received());
    BANGER_TRY(fetcher.Shutdown(10000));
    return download.received();
  }
}

Result<std::string> ReadUrl(const HelperLauncher& launcher, const std::string& url, uint64_t max_bytes) {
  UniqueFd sink(::memfd_create("banger-download", MFD_CLOEXEC));
  if (!sink) return Error::FromErrno("memfd_create");
  uint64_t at = 0;
  BANGER_TRY(DownloadUrl(launcher, url, max_bytes, [&](int pipe) -> Result<Spliced> {
    BANGER_ASSIGN_OR_RETURN(Spliced moved, SpliceFromPipe(pipe, sink.get(), at, 1 << 20, "reading " + url));
    at += moved.bytes;
    return moved;
  }));
  return ReadWholeFd(sink.get(), max_bytes, url);
}

}  // namespace banger::broker
