#include "broker/pull/url_download.h"

#include <sys/mman.h>

#include "base/fd.h"
#include "ipc/fetch_protocol.h"

namespace banger::broker {
namespace {

constexpr int kSilenceTimeoutMs = 15 * 60 * 1000;
constexpr size_t kPipeCapacity = 1 << 20;

}  // namespace

Result<uint64_t> DownloadUrl(const HelperLauncher& launcher, const std::string& url, uint64_t max_bytes,
                             const PipeReceiver& receive, const std::function<void(uint64_t bytes)>& progress) {
  BANGER_ASSIGN_OR_RETURN(security::SandboxedChild fetcher, launcher.Start(security::ProcessKind::kFetcher));
  BANGER_ASSIGN_OR_RETURN(Pipe pipe, CreatePipe(kPipeCapacity, true));
  ipc::Message request = ipc::Message::Make(ipc::MessageType::kFetchUrl, ipc::Encode(ipc::UrlRequest{1, url, max_bytes}));
  request.fds.push_back(std::move(pipe.write));
  BANGER_TRY(fetcher.Send(request));
  request.fds.clear();  // the fetcher's is the only write end
  uint64_t received = 0;
  bool ended = false;
  auto take = [&]() -> Result<void> {
    for (;;) {
      BANGER_ASSIGN_OR_RETURN(Spliced moved, receive(pipe.read.get()));
      received += moved.bytes;
      ended |= moved.end;
      if (received > max_bytes) return Error{ErrorCode::kOversized, url + " is larger than " + std::to_string(max_bytes) + " bytes"};
      if (moved.bytes == 0) break;
      if (progress) progress(received);
    }
    return {};
  };
  for (;;) {
    std::vector<int> watched;
    if (!ended) watched.push_back(pipe.read.get());
    BANGER_ASSIGN_OR_RETURN(security::SandboxedChild::Awaited heard, fetcher.Await(watched, kSilenceTimeoutMs));
    if (!heard.ready.empty()) BANGER_TRY(take());
    if (!heard.message) continue;
    BANGER_TRY(fetcher.CheckExpected(*heard.message, {ipc::MessageType::kBlobDone}));
    BANGER_TRY(take());
    auto report = ipc::Decode<ipc::BlobDone>(heard.message->body);
    if (!report) return fetcher.BrokeProtocol(report.error().message);
    if (report->id != 1 || report->bytes != received) {
      return fetcher.BrokeProtocol("its report does not fit the " + std::to_string(received) + " bytes of " + url);
    }
    BANGER_TRY(fetcher.Shutdown(10000));
    return received;
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
