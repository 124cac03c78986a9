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
    std::vector<int> pipes;
    for (const auto& [id, download] : in_flight_) {
      if (download.pipe.watch_fd() >= 0) pipes.push_back(download.pipe.watch_fd());
    }
    auto heard = fetcher_.Await(pipes, WaitMs(pending.empty() ? kBlobSilenceTimeoutMs : kWaitPollMs));
    BANGER_TRY(CheckDeadlines());
    // The fetcher is asked often (blobs wait for other pulls, a deadline comes); silence
    // is bounded overall.
    if (!heard && heard.error().code == ErrorCode::kTimeout &&
        Clock::now() - last_heard < std::chrono::milliseconds(kBlobSilenceTimeoutMs)) {
      continue;
    }
    if (!heard) return heard.error();
    last_heard = Clock::now();
    for (auto& [id, download] : in_flight_) {
      const int fd = download.pipe.watch_fd();
      if (fd >= 0 && std::find(heard->ready.begin(), heard->ready.end(), fd) != heard->ready.end()) {
        BANGER_TRY(Drain(download));
      }
    }
    if (!heard->message) continue;
    BANGER_TRY(fetcher_.CheckExpected(*heard->message, {ipc::MessageType::kBlobDone}));
    BANGER_ASSIGN_OR_RETURN(uint64_t bytes, HandleReport(*heard->message));
    downloaded += bytes;
  }
  return downloaded;
}

int BlobDownloads::WaitMs(int longest_ms) const {
  const auto now = Clock::now();
  int64_t wait = longest_ms;
  for (const auto& [id, download] : in_flight_) {
    const auto until = std::chrono::duration_cast<std::chrono::milliseconds>(download.deadline - now).count() + 1;
    wait = std::min<int64_t>(wait, std::max<int64_t>(until, 1));
  }
  return static_cast<int>(wait);
}

Result<void> BlobDownloads::CheckDeadlines() const {
  const auto now = Clock::now();
  for (const auto& [id, download] : in_flight_) {
    if (now <= download.deadline) continue;
    const FetchedBlob& blob = *download.blob;
    return Error{ErrorCode::kIo, blob.digest + ": " + std::to_string(download.incoming->received()) + " of " +
                                     std::to_string(blob.size) + " bytes arrived in the time the slowest allowed rate (" +
                                     std::to_string(options_.min_download_rate) + " bytes/s after " +
                                     std::to_string(options_.download_grace_seconds) +
                                     " s) gives it; the registry is too slow or stalling"};
  }
  return {};
}

Error BlobDownloads::PipeFailed(Error error) {
  return error.code == ErrorCode::kMalformed ? fetcher_.BrokeProtocol(error.message) : error;
}

Result<void> BlobDownloads::Drain(InFlight& download) {
  auto moved = download.pipe.Drain();
  if (!moved) return PipeFailed(moved.error());
  if (*moved > 0) Emit(FetchEvent::kProgress, *download.blob, download.incoming->received());
  return {};
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
    // The other banger's download finished (a tenant takes only a shared one).
    if (cache_.Contains(blob->digest, blob->size) && (!options_.tenant || cache_.Shared(blob->digest))) {
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
  const bool config = blob.media_type.find("config") != std::string::npos;
  BANGER_ASSIGN_OR_RETURN(IncomingBlob began, cache_.Begin(blob.digest, blob.size, config ? "config" : "layer"));
  auto incoming = std::make_unique<IncomingBlob>(std::move(began));
  auto receive = [into = incoming.get()](int pipe) { return into->ReceiveFrom(pipe); };
  BANGER_ASSIGN_OR_RETURN(PipeDownload pipe, PipeDownload::Create(receive, blob.size, blob.digest));
  const ipc::BlobRequest request{next_id_, {blob.digest, blob.size, blob.media_type}};
  ipc::Message message = ipc::Message::Make(ipc::MessageType::kFetchBlob, ipc::Encode(request));
  message.fds.push_back(pipe.TakeWriteEnd());  // closed here once sent: the fetcher's is the only write end
  BANGER_TRY(fetcher_.Send(message));
  Emit(FetchEvent::kStarted, blob, 0);
  if (options_.on_download_started) options_.on_download_started(blob.digest, incoming->fd());
  const uint64_t rate = std::max<uint64_t>(options_.min_download_rate, 1);
  const uint64_t ms = std::min<uint64_t>(options_.download_grace_seconds, uint64_t{1} << 28) * 1000 +
                      std::min<uint64_t>(blob.size / rate, uint64_t{1} << 28) * 1000 + blob.size % rate * 1000 / rate;
  const auto deadline = Clock::now() + std::chrono::milliseconds(ms);  // at most ~17 years ahead
  in_flight_.emplace(next_id_++, InFlight{&blob, std::move(incoming), std::move(pipe), std::move(claim), deadline});
  return {};
}

// The fetcher's word that a blob is done: everything it wrote must already be in the
// pipe, and be exactly the blob.
Result<uint64_t> BlobDownloads::HandleReport(const ipc::Message& message) {
  auto report = ipc::Decode<ipc::BlobDone>(message.body);
  if (!report) return fetcher_.BrokeProtocol(report.error().message);
  auto it = in_flight_.find(report->id);
  if (it == in_flight_.end()) return fetcher_.BrokeProtocol("it reported on a blob nobody asked for");
  InFlight& download = it->second;
  if (auto finished = download.pipe.Finish(report->bytes); !finished) return PipeFailed(finished.error());
  FetchedBlob& blob = *download.blob;
  if (download.incoming->received() != blob.size) {
    return fetcher_.BrokeProtocol("it called " + blob.digest + " done after " +
                                  std::to_string(download.incoming->received()) + " of its " +
                                  std::to_string(blob.size) + " bytes");
  }
  BANGER_TRY(download.incoming->Commit());
  Emit(FetchEvent::kDone, blob, blob.size);
  in_flight_.erase(it);  // closes the pipe and releases the download claim
  return blob.size;
}

}  // namespace banger::broker
