// One layer's uncompressed tar bytes, whatever its media type claims: gzip (several
// members), zstd (several frames, window capped) or plain tar, told apart by their magic
// bytes. Counts and hashes what it yields (the diff_id) and enforces the size and
// decompression-ratio bounds.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ipc/result.h"

namespace banger::unpacker {

struct StreamLimits {
  uint64_t max_uncompressed_bytes = 64ull << 30;
  uint64_t max_ratio = 1000;              // uncompressed : compressed
  uint64_t ratio_grace_bytes = 64 << 20;  // the ratio is judged past this much output
  int zstd_window_log_max = 27;           // 128 MiB, zstd's own default limit
};

class LayerStream {
 public:
  enum class Format { kPlain, kGzip, kZstd };

  // `name` ("layer sha256:...") prefixes every error.
  static Result<std::unique_ptr<LayerStream>> Open(int fd, std::string name, StreamLimits limits);
  virtual ~LayerStream() = default;

  // Up to `size` bytes; 0 at the end of the layer.
  Result<size_t> Read(char* out, size_t size);
  // Reads and hashes whatever is left (padding after the tar's end marker counts too).
  Result<void> Drain();
  // "sha256:..." of every uncompressed byte; call after the end.
  std::string Digest();

  Format format() const { return format_; }
  uint64_t uncompressed_bytes() const { return produced_; }
  uint64_t compressed_bytes() const { return consumed_; }
  const std::string& name() const { return name_; }

 protected:
  LayerStream(int fd, std::string name, StreamLimits limits, Format format);
  // Decompresses into out; returns 0 only at the end of the stream.
  virtual Result<size_t> Produce(char* out, size_t size) = 0;
  // Raw layer bytes, counted.
  Result<size_t> ReadInput(char* out, size_t size);
  Error Fail(const std::string& what) const;

  int fd_;
  std::string name_;
  StreamLimits limits_;
  Format format_;
  uint64_t consumed_ = 0;

 private:
  uint64_t produced_ = 0;
  struct Hash;
  std::shared_ptr<Hash> hash_;
};

const char* FormatName(LayerStream::Format format);

}  // namespace banger::unpacker
