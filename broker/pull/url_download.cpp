#include "broker/pull/url_download.h"

#include <sys/mman.h>

#include "base/fd.h"
#include "ipc/fetch_protocol.h"

namespace banger::broker {
namespace {

constexpr int kSilenceTimeoutMs = 15 * 60 * 1000;

}  // namespace

Result<uint64_t> DownloadUrl(const HelperLauncher& launcher, const std::string& url, uint64_t max_bytes, int fd,
                             const std::function<void(uint64_t bytes)>& progress) {
  BANGER_ASSIGN_OR_RETURN(security::SandboxedChild fetcher, launcher.Start(security::ProcessKind::kFetcher));
  ipc::Message request = ipc::Message::Make(ipc::MessageType::kFetchUrl, ipc::Encode(ipc::UrlRequest{1, url, max_bytes}));
  BANGER_ASSIGN_OR_RETURN(UniqueFd sink, DupCloexec(fd));
  request.fds.push_back(std::move(sink));
  BANGER_TRY(fetcher.Send(request));
  for (;;) {
    BANGER_ASSIGN_OR_RETURN(ipc::Message reply, fetcher.ReceiveExpecting({ipc::MessageType::kBlobProgress,
                                                                           ipc::MessageType::kBlobDone},
                                                                          kSilenceTimeoutMs));
    auto report = ipc::Decode<ipc::BlobProgress>(reply.body);
    if (!report || report->id != 1 || report->bytes > max_bytes) {
      fetcher.Kill();
      return Error{ErrorCode::kChildFailed, "banger-fetcher: " + (report ? "a report that does not fit the download of " + url
                                                                          : report.error().message)};
    }
    if (progress) progress(report->bytes);
    if (reply.type == ipc::MessageType::kBlobDone) {
      BANGER_TRY(fetcher.Shutdown(10000));
      return report->bytes;
    }
  }
}

Result<std::string> ReadUrl(const HelperLauncher& launcher, const std::string& url, uint64_t max_bytes) {
  UniqueFd sink(::memfd_create("banger-download", MFD_CLOEXEC));
  if (!sink) return Error::FromErrno("memfd_create");
  BANGER_TRY(DownloadUrl(launcher, url, max_bytes, sink.get()));
  return ReadWholeFd(sink.get(), max_bytes, url);
}

}  // namespace banger::broker
