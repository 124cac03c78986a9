// One layer's uncompressed tar bytes, whatever its media type claims: gzip (several
// members), zstd (several frames, window capped) or plain tar, told apart by their magic
// bytes. Counts and hashes what it yields (the diff_id) and enforces the size bound.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/sha256.h"

namespace banger::unpacker {

// No ratio bound: zeros compress about 1000:1 in gzip and far more in zstd, and cost
// nothing once they are holes. What inflating costs is CPU time, which the byte bound
// (and the replay's time bound) stop.
struct StreamLimits {
  uint64_t max_uncompressed_bytes = 64ull << 30;
  const char* bound_name = "the layer size bound";  // for the error past it
  int zstd_window_log_max = 27;           // 128 MiB, zstd's own default limit
};

class LayerStream {
 public:
  enum class Format { kPlain, kGzip, kZstd };

  // `name` ("layer sha256:...") prefixes every error. With `grows_to`, the file is still
  // being downloaded: reads wait for bytes that have not arrived, up to that size, and
  // `on_wait` hears of each wait (nanoseconds), when given. Once `*stop` is true,
  // reading and inflating fail ("stopped") and such a wait ends: how a reader on another
  // thread is stopped.
  static Result<std::unique_ptr<LayerStream>> Open(int fd, std::string name, StreamLimits limits,
                                                   uint64_t grows_to = 0, const std::atomic<bool>* stop = nullptr,
                                                   std::function<void(int64_t)> on_wait = nullptr);
  ~LayerStream();

  // The next piece of the layer, valid until the next call; empty at the end. A worker
  // thread decompresses and checks the bounds a few pieces ahead, so that work overlaps
  // the caller's hashing, tar parsing and spool writes.
  Result<std::string_view> Next();
  // Reads and hashes whatever is left (padding after the tar's end marker counts too).
  Result<void> Drain();
  // "sha256:..." of every uncompressed byte; call after the end.
  std::string Digest();

  Format format() const { return format_; }
  // Bytes handed out by Next so far.
  uint64_t uncompressed_bytes() const { return handed_out_; }
  // Time spent waiting for bytes of a layer still downloading.
  std::chrono::nanoseconds waited() const { return std::chrono::nanoseconds(waited_ns_.load()); }
  const std::string& name() const { return name_; }

  // A decompressor; runs on the worker thread only.
  class Decoder {
   public:
    explicit Decoder(LayerStream& stream) : stream_(stream) {}
    virtual ~Decoder() = default;
    // Decompresses into out; returns 0 only at the end of the stream.
    virtual Result<size_t> Produce(char* out, size_t size) = 0;

   protected:
    // Raw layer bytes, counted.
    Result<size_t> ReadInput(char* out, size_t size) { return stream_.ReadInput(out, size); }
    Error Fail(const std::string& what) const { return stream_.Fail(what); }
    const StreamLimits& limits() const { return stream_.limits_; }

   private:
    LayerStream& stream_;
  };

 private:
  struct Pipeline;

  LayerStream(int fd, std::string name, StreamLimits limits, Format format);
  Result<size_t> ReadInput(char* out, size_t size);
  // pread at `offset`; on a growing file, waits until something is there or it is complete.
  Result<size_t> ReadAt(char* out, size_t size, uint64_t offset) const;
  Error Fail(const std::string& what) const;
  // The worker's loop: fills free pieces until the end, an error or cancellation.
  void Work();
  void StopWorker();
  // One piece, decompressed and bounded.
  Result<size_t> Fill(char* out, size_t size);

  int fd_;
  std::string name_;
  StreamLimits limits_;
  Format format_;
  uint64_t grows_to_ = 0;
  std::unique_ptr<Decoder> decoder_;
  uint64_t consumed_ = 0;    // compressed bytes read (worker)
  uint64_t produced_ = 0;    // uncompressed bytes made (worker)
  uint64_t handed_out_ = 0;  // uncompressed bytes handed out (caller)
  mutable std::atomic<int64_t> waited_ns_{0};  // written by the worker, read by the caller
  const std::atomic<bool>* stop_ = nullptr;
  std::function<void(int64_t)> on_wait_;
  Sha256 hash_;
  std::unique_ptr<Pipeline> pipeline_;
};

const char* FormatName(LayerStream::Format format);

}  // namespace banger::unpacker
