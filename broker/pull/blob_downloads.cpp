#include "broker/pull/blob_downloads.h"

#include <poll.h>

#include <algorithm>
#include <chrono>
#include <deque>

#include "ipc/fetch_protocol.h"

namespace banger::broker {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kBlobSilenceTimeoutMs = 15 * 60 * 1000;
constexpr int kWaitPollMs = 100;

}  // namespace

void BlobDownloads::Emit(FetchEvent::Kind kind, const FetchedBlob& blob, uint64_t bytes) const {
  if (options_.on_event) options_.on_event(FetchEvent{kind, blob.digest, bytes, blob.size});
}

Result<void> BlobDownloads::PauseUnlessStopped(int ms) const {
  pollfd stop{options_.helpers.stop_fd, POLLIN, 0};
  if (::poll(&stop, 1, ms) > 0) return Error{ErrorCode::kStopped, "stopped while waiting for another pull's download"};
  return {};
}

Result<uint64_t> BlobDownloads::Run(const std::vector<FetchedBlob*>& wanted) {
  std::vector<FetchedBlob*> pending(wanted.begin(), wanted.end());
  uint64_t downloaded = 0;
  auto last_heard = Clock::now();
  while (!pending.empty() || !in_flight_.empty()) {
    BANGER_TRY(StartWhatMay(pending));
    if (in_flight_.empty()) {
      if (!pending.empty()) BANGER_TRY(PauseUnlessStopped(kWaitPollMs));
      continue;
    }
    auto message = fetcher_.ReceiveExpecting({ipc::MessageType::kBlobProgress, ipc::MessageType::kBlobDone},
                                             pending.empty() ? kBlobSilenceTimeoutMs : kWaitPollMs);
    // While blobs wait for other pulls, the fetcher is asked often; silence is bounded overall.
    if (!message && message.error().code == ErrorCode::kTimeout && !pending.empty() &&
        Clock::now() - last_heard < std::chrono::milliseconds(kBlobSilenceTimeoutMs)) {
      continue;
    }
    if (!message) return message.error();
    last_heard = Clock::now();
    BANGER_ASSIGN_OR_RETURN(uint64_t bytes, HandleReport(*message));
    downloaded += bytes;
  }
  return downloaded;
}

// Starts what may start; a blob another banger is downloading goes to the back.
Result<void> BlobDownloads::StartWhatMay(std::vector<FetchedBlob*>& pending) {
  std::deque<FetchedBlob*> queue(pending.begin(), pending.end());
  const size_t parallel = static_cast<size_t>(std::max(1, options_.parallel_downloads));
  for (size_t tries = queue.size(); tries > 0 && in_flight_.size() < parallel; --tries) {
    FetchedBlob* blob = queue.front();
    queue.pop_front();
    BANGER_ASSIGN_OR_RETURN(std::optional<UniqueFd> claim, TryClaimDownload(cache_.layout(), blob->digest));
    if (!claim) {
      if (waiting_.insert(blob).second) Emit(FetchEvent::kWaiting, *blob, 0);
      queue.push_back(blob);
      continue;
    }
    if (cache_.Contains(blob->digest, blob->size)) {  // the other banger's download finished
      blob->from_cache = true;
      Emit(FetchEvent::kCached, *blob, blob->size);
      continue;
    }
    BANGER_TRY(Start(*blob, std::move(*claim)));
  }
  pending.assign(queue.begin(), queue.end());
  return {};
}

Result<void> BlobDownloads::Start(FetchedBlob& blob, UniqueFd claim) {
  BANGER_ASSIGN_OR_RETURN(UniqueFd incoming, cache_.CreateIncoming());
  const ipc::BlobRequest request{next_id_, {blob.digest, blob.size, blob.media_type}};
  ipc::Message message = ipc::Message::Make(ipc::MessageType::kFetchBlob, ipc::Encode(request));
  BANGER_ASSIGN_OR_RETURN(UniqueFd for_fetcher, DupCloexec(incoming.get()));
  message.fds.push_back(std::move(for_fetcher));
  BANGER_TRY(fetcher_.Send(message));
  Emit(FetchEvent::kStarted, blob, 0);
  if (options_.on_download_started) options_.on_download_started(blob.digest, incoming.get());
  in_flight_.emplace(next_id_++, InFlight{&blob, std::move(incoming), std::move(claim)});
  return {};
}

Result<uint64_t> BlobDownloads::HandleReport(const ipc::Message& message) {
  auto report = ipc::Decode<ipc::BlobProgress>(message.body);
  auto it = report ? in_flight_.find(report->id) : in_flight_.end();
  if (it == in_flight_.end()) {
    fetcher_.Kill();
    return Error{ErrorCode::kChildFailed, report ? "banger-fetcher reported on a blob nobody asked for"
                                                 : "banger-fetcher: " + report.error().message};
  }
  FetchedBlob& blob = *it->second.blob;
  if (message.type == ipc::MessageType::kBlobProgress) {
    Emit(FetchEvent::kProgress, blob, std::min(report->bytes, blob.size));
    return 0;
  }
  const bool config = blob.media_type.find("config") != std::string::npos;
  BANGER_TRY(cache_.Commit(it->second.incoming, blob.digest, blob.size, config ? "config" : "layer"));
  Emit(FetchEvent::kDone, blob, blob.size);
  in_flight_.erase(it);  // releases the download claim
  return blob.size;
}

}  // namespace banger::broker
