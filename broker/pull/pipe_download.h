// One download through a pipe (invariant I8): the fetcher holds the write end, never a
// file; the broker moves what the pipe holds into a sink only it writes, counting, and
// checks the fetcher's word that it is done against what arrived. Shared by the
// registry's blobs (blob_downloads.h) and plain URLs (url_download.h).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "base/fd.h"
#include "base/result.h"

namespace banger::broker {

// Moves what the fetcher's pipe holds now to where the bytes go (IncomingBlob::ReceiveFrom,
// or SpliceFromPipe into a file). kMalformed: the bytes cannot be what was asked for.
using PipeReceiver = std::function<Result<Spliced>(int pipe)>;

class PipeDownload {
 public:
  // A pipe for a download of at most `max_bytes`; `what` names it in errors.
  static Result<PipeDownload> Create(PipeReceiver receive, uint64_t max_bytes, std::string what);

  // The write end, for the fetcher: sent with the request, then closed by the caller, so
  // the fetcher's copy is the only one and its end is the pipe's end.
  UniqueFd TakeWriteEnd() { return std::move(write_); }
  // What to wait on while the pipe may still bring bytes; -1 once it has ended.
  int watch_fd() const { return ended_ ? -1 : read_.get(); }
  uint64_t received() const { return received_; }

  // Moves what the pipe holds now, at most kMaxDrainBytes in one call, so that a pipe kept
  // full cannot starve the caller's loop (it is still readable on the next wait). Returns
  // the bytes moved. kMalformed: more than `max_bytes`, or bytes the sink refused, which
  // only a fetcher that broke protocol sends.
  Result<uint64_t> Drain();
  // The fetcher said it is done after `reported` bytes: whatever it wrote must be in the
  // pipe already, and add up to exactly that. kMalformed otherwise.
  Result<void> Finish(uint64_t reported);

  static constexpr uint64_t kMaxDrainBytes = 16 << 20;

 private:
  PipeDownload() = default;
  PipeReceiver receive_;
  uint64_t max_bytes_ = 0;
  std::string what_;
  UniqueFd read_, write_;
  uint64_t received_ = 0;
  bool ended_ = false;
};

}  // namespace banger::broker
