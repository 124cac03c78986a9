#include "broker/pull/pipe_download.h"

namespace banger::broker {
namespace {

constexpr size_t kPipeCapacity = 1 << 20;

}  // namespace

Result<PipeDownload> PipeDownload::Create(PipeReceiver receive, uint64_t max_bytes, std::string what) {
  BANGER_ASSIGN_OR_RETURN(Pipe pipe, CreatePipe(kPipeCapacity, true));
  PipeDownload download;
  download.receive_ = std::move(receive);
  download.max_bytes_ = max_bytes;
  download.what_ = std::move(what);
  download.read_ = std::move(pipe.read);
  download.write_ = std::move(pipe.write);
  return download;
}

Result<uint64_t> PipeDownload::Drain() {
  uint64_t moved = 0;
  while (moved < kMaxDrainBytes && !ended_) {
    BANGER_ASSIGN_OR_RETURN(Spliced spliced, receive_(read_.get()));
    moved += spliced.bytes;
    received_ += spliced.bytes;
    ended_ |= spliced.end;
    if (received_ > max_bytes_) {
      return Error{ErrorCode::kMalformed, "it sent more than the " + std::to_string(max_bytes_) + " bytes of " + what_};
    }
    if (spliced.bytes == 0) break;
  }
  return moved;
}

Result<void> PipeDownload::Finish(uint64_t reported) {
  while (!ended_) {
    BANGER_ASSIGN_OR_RETURN(uint64_t moved, Drain());
    if (moved == 0) break;
  }
  if (reported != received_) {
    return Error{ErrorCode::kMalformed, "it called " + what_ + " done after " + std::to_string(reported) +
                                            " bytes, but its pipe brought " + std::to_string(received_)};
  }
  return {};
}

}  // namespace banger::broker
