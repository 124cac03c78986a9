#include "unpacker/layer_stream.h"

#include <unistd.h>
#include <isa-l/igzip_lib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <time.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>

#include "base/digest.h"

namespace banger::unpacker {
namespace {

constexpr size_t kInputChunk = 256 * 1024;
constexpr auto kDownloadStallLimit = std::chrono::minutes(10);

class PlainDecoder final : public LayerStream::Decoder {
 public:
  using Decoder::Decoder;
  Result<size_t> Produce(char* out, size_t size) override { return ReadInput(out, size); }
};

// gzip through ISA-L's inflate (several times zlib's speed on x86), member after member.
class GzipDecoder final : public LayerStream::Decoder {
 public:
  explicit GzipDecoder(LayerStream& stream) : Decoder(stream) {
    StartMember();
    input_.resize(kInputChunk);
  }

  Result<size_t> Produce(char* out, size_t size) override {
    state_.next_out = reinterpret_cast<uint8_t*>(out);
    state_.avail_out = static_cast<uint32_t>(size);
    while (state_.avail_out == size) {
      if (state_.avail_in == 0 && !input_done_) {
        BANGER_ASSIGN_OR_RETURN(size_t n, ReadInput(input_.data(), input_.size()));
        if (n == 0) input_done_ = true;
        state_.next_in = reinterpret_cast<uint8_t*>(input_.data());
        state_.avail_in = static_cast<uint32_t>(n);
      }
      if (state_.block_state == ISAL_BLOCK_FINISH) {
        if (state_.avail_in == 0 && input_done_) return size_t{0};
        if (state_.avail_in == 0) continue;
        // Another member must follow, and nothing else.
        if (state_.next_in[0] != 0x1f) return Fail("data after the last gzip member is not gzip");
        StartMember();
      }
      if (state_.avail_in == 0 && input_done_) return Fail("gzip stream is truncated");
      const int rc = isal_inflate(&state_);
      if (rc < 0) return Fail(std::string("gzip data is corrupt: ") + Reason(rc));
    }
    return size - state_.avail_out;
  }

 private:
  // isal_inflate_init clears the whole state, buffers included: keep where they stand.
  void StartMember() {
    uint8_t* next_in = state_.next_in;
    uint32_t avail_in = state_.avail_in;
    uint8_t* next_out = state_.next_out;
    uint32_t avail_out = state_.avail_out;
    isal_inflate_init(&state_);
    state_.crc_flag = ISAL_GZIP;  // parse the header, verify the CRC and length trailer
    state_.next_in = next_in;
    state_.avail_in = avail_in;
    state_.next_out = next_out;
    state_.avail_out = avail_out;
  }
  static const char* Reason(int rc) {
    switch (rc) {
      case ISAL_INVALID_BLOCK: return "invalid deflate block";
      case ISAL_INVALID_SYMBOL: return "invalid deflate symbol";
      case ISAL_INVALID_LOOKBACK: return "invalid distance";
      case ISAL_INVALID_WRAPPER: return "invalid gzip header";
      case ISAL_UNSUPPORTED_METHOD: return "not deflate";
      case ISAL_INCORRECT_CHECKSUM: return "CRC or length mismatch";
      default: return "inflate failed";
    }
  }

  inflate_state state_{};
  bool input_done_ = false;
  std::vector<char> input_;
};

class ZstdDecoder final : public LayerStream::Decoder {
 public:
  explicit ZstdDecoder(LayerStream& stream) : Decoder(stream), ctx_(ZSTD_createDCtx()) {
    if (ctx_ != nullptr) {
      ZSTD_DCtx_setParameter(ctx_, ZSTD_d_windowLogMax, limits().zstd_window_log_max);
    }
    input_.resize(kInputChunk);
  }
  ~ZstdDecoder() override { ZSTD_freeDCtx(ctx_); }

  Result<size_t> Produce(char* out, size_t size) override {
    if (ctx_ == nullptr) return Fail("cannot start zstd");
    ZSTD_outBuffer output{out, size, 0};
    while (output.pos == 0) {
      if (in_.pos == in_.size && !input_done_) {
        BANGER_ASSIGN_OR_RETURN(size_t n, ReadInput(input_.data(), input_.size()));
        if (n == 0) input_done_ = true;
        in_ = {input_.data(), n, 0};
      }
      if (in_.pos == in_.size && input_done_) {
        if (frame_open_) return Fail("zstd stream is truncated");
        return size_t{0};
      }
      size_t rc = ZSTD_decompressStream(ctx_, &output, &in_);
      if (ZSTD_isError(rc)) {
        if (ZSTD_getErrorCode(rc) == ZSTD_error_frameParameter_windowTooLarge) {
          return Fail("zstd window exceeds the limit of 2^" + std::to_string(limits().zstd_window_log_max) +
                      " bytes");
        }
        return Fail(std::string("zstd data is corrupt: ") + ZSTD_getErrorName(rc));
      }
      frame_open_ = rc != 0;
    }
    return output.pos;
  }

 private:
  ZSTD_DCtx* ctx_;
  ZSTD_inBuffer in_{nullptr, 0, 0};
  bool input_done_ = false;
  bool frame_open_ = false;
  std::vector<char> input_;
};

}  // namespace

// Pieces go round between the worker (fills free ones) and the caller (holds at most one).
struct LayerStream::Pipeline {
  static constexpr size_t kPieces = 4;
  static constexpr size_t kPieceBytes = 1 << 20;

  Pipeline() {
    for (size_t i = 0; i < kPieces; ++i) {
      pieces.emplace_back(new char[kPieceBytes]);
      free.push_back(i);
    }
    sizes.resize(kPieces);
  }

  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::unique_ptr<char[]>> pieces;
  std::vector<size_t> sizes;
  std::vector<size_t> free;
  std::deque<size_t> ready;     // filled, oldest first
  std::optional<size_t> held;   // handed to the caller
  std::optional<Error> error;   // after the ready pieces, the stream ends with this
  bool ended = false;           // the worker made its last piece
  bool cancelled = false;
  std::thread worker;
};

const char* FormatName(LayerStream::Format format) {
  switch (format) {
    case LayerStream::Format::kPlain: return "tar";
    case LayerStream::Format::kGzip: return "gzip";
    case LayerStream::Format::kZstd: return "zstd";
  }
  return "?";
}

LayerStream::LayerStream(int fd, std::string name, StreamLimits limits, Format format)
    : fd_(fd), name_(std::move(name)), limits_(limits), format_(format) {}

LayerStream::~LayerStream() { StopWorker(); }

Error LayerStream::Fail(const std::string& what) const { return Error{ErrorCode::kMalformed, name_ + ": " + what}; }

Result<std::unique_ptr<LayerStream>> LayerStream::Open(int fd, std::string name, StreamLimits limits,
                                                      uint64_t grows_to, const std::atomic<bool>* stop,
                                                      std::function<void(int64_t)> on_wait) {
  std::unique_ptr<LayerStream> stream(new LayerStream(fd, std::move(name), limits, Format::kPlain));
  stream->grows_to_ = grows_to;
  stream->stop_ = stop;
  stream->on_wait_ = std::move(on_wait);
  unsigned char magic[4] = {0, 0, 0, 0};
  size_t got = 0;
  while (got < sizeof magic) {
    BANGER_ASSIGN_OR_RETURN(size_t n, stream->ReadAt(reinterpret_cast<char*>(magic) + got, sizeof magic - got, got));
    if (n == 0) break;
    got += n;
  }
  if (got >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) stream->format_ = Format::kGzip;
  if (got >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd) {
    stream->format_ = Format::kZstd;
  }
  switch (stream->format_) {
    case Format::kPlain: stream->decoder_ = std::make_unique<PlainDecoder>(*stream); break;
    case Format::kGzip: stream->decoder_ = std::make_unique<GzipDecoder>(*stream); break;
    case Format::kZstd: stream->decoder_ = std::make_unique<ZstdDecoder>(*stream); break;
  }
  return stream;
}

Result<size_t> LayerStream::ReadAt(char* out, size_t size, uint64_t offset) const {
  if (grows_to_ != 0) {
    if (offset >= grows_to_) return size_t{0};
    size = static_cast<size_t>(std::min<uint64_t>(size, grows_to_ - offset));
  }
  const auto waiting_since = std::chrono::steady_clock::now();
  for (;;) {
    if (stop_ != nullptr && stop_->load()) return Error{ErrorCode::kStopped, name_ + ": stopped"};
    ssize_t n = ::pread(fd_, out, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::FromErrno(name_ + ": reading");
    if (n > 0 || grows_to_ == 0 || size == 0) return static_cast<size_t>(n);
    // Not downloaded yet. The broker ends the pull if the download fails; this bound
    // only keeps an orphaned unpacker from waiting forever.
    if (std::chrono::steady_clock::now() - waiting_since > kDownloadStallLimit) {
      return Error{ErrorCode::kTimeout, name_ + ": no new bytes arrived for 10 minutes while it downloaded"};
    }
    timespec pause{0, 2'000'000};
    ::nanosleep(&pause, nullptr);
    waited_ns_ += 2'000'000;
    if (on_wait_) on_wait_(2'000'000);
  }
}

Result<size_t> LayerStream::ReadInput(char* out, size_t size) {
  BANGER_ASSIGN_OR_RETURN(size_t n, ReadAt(out, size, consumed_));
  consumed_ += n;
  return n;
}

Result<size_t> LayerStream::Fill(char* out, size_t size) {
  // A bomb inflates far from little input: the stop is looked at per piece, not per read.
  if (stop_ != nullptr && stop_->load()) return Error{ErrorCode::kStopped, name_ + ": stopped"};
  BANGER_ASSIGN_OR_RETURN(size_t n, decoder_->Produce(out, size));
  produced_ += n;
  if (produced_ > limits_.max_uncompressed_bytes) {
    return Error{ErrorCode::kOversized, name_ + ": uncompresses to more than " +
                                            std::to_string(limits_.max_uncompressed_bytes) +
                                            " bytes (" + limits_.bound_name + ")"};
  }
  return n;
}

void LayerStream::Work() {
  Pipeline& p = *pipeline_;
  for (;;) {
    size_t index = 0;
    {
      std::unique_lock lock(p.mutex);
      p.changed.wait(lock, [&] { return p.cancelled || !p.free.empty(); });
      if (p.cancelled) return;
      index = p.free.back();
      p.free.pop_back();
    }
    char* out = p.pieces[index].get();
    size_t filled = 0;
    Result<size_t> made = size_t{1};
    while (filled < Pipeline::kPieceBytes) {
      made = Fill(out + filled, Pipeline::kPieceBytes - filled);
      if (!made || *made == 0) break;
      filled += *made;
    }
    const bool last = !made || *made == 0;
    std::lock_guard lock(p.mutex);
    if (filled > 0) {
      p.sizes[index] = filled;
      p.ready.push_back(index);
    } else {
      p.free.push_back(index);
    }
    if (!made) p.error = made.error();
    p.ended = last;
    p.changed.notify_all();
    if (last) return;
  }
}

void LayerStream::StopWorker() {
  if (!pipeline_ || !pipeline_->worker.joinable()) return;
  {
    std::lock_guard lock(pipeline_->mutex);
    pipeline_->cancelled = true;
  }
  pipeline_->changed.notify_all();
  pipeline_->worker.join();
}

Result<std::string_view> LayerStream::Next() {
  if (!pipeline_) {
    pipeline_ = std::make_unique<Pipeline>();
    try {
      pipeline_->worker = std::thread([this] { Work(); });
    } catch (const std::system_error& e) {
      pipeline_->ended = true;  // later calls end with the same error instead of waiting
      pipeline_->error = Error{ErrorCode::kIo, name_ + ": cannot start the decompression thread: " + e.what()};
    }
  }
  Pipeline& p = *pipeline_;
  std::unique_lock lock(p.mutex);
  if (p.held) {
    p.free.push_back(*p.held);
    p.held.reset();
    p.changed.notify_all();
  }
  p.changed.wait(lock, [&] { return !p.ready.empty() || p.ended; });
  if (!p.ready.empty()) {
    const size_t index = p.ready.front();
    p.ready.pop_front();
    p.held = index;
    lock.unlock();
    // Hashed here rather than on the worker: inflate alone keeps that thread busy.
    handed_out_ += p.sizes[index];
    hash_.Update(p.pieces[index].get(), p.sizes[index]);
    return std::string_view(p.pieces[index].get(), p.sizes[index]);
  }
  if (p.error) return *p.error;
  return std::string_view();
}

Result<void> LayerStream::Drain() {
  for (;;) {
    BANGER_ASSIGN_OR_RETURN(std::string_view piece, Next());
    if (piece.empty()) return {};
  }
}

std::string LayerStream::Digest() {
  StopWorker();
  return Sha256Digest(hash_.Finish());
}

}  // namespace banger::unpacker
