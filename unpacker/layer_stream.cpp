#include "unpacker/layer_stream.h"

#include <openssl/evp.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <cerrno>
#include <cstring>

#include "ipc/digest.h"

namespace banger::unpacker {
namespace {

constexpr size_t kInputChunk = 256 * 1024;

class PlainStream final : public LayerStream {
 public:
  PlainStream(int fd, std::string name, StreamLimits limits) : LayerStream(fd, std::move(name), limits, Format::kPlain) {}

 protected:
  Result<size_t> Produce(char* out, size_t size) override { return ReadInput(out, size); }
};

class GzipStream final : public LayerStream {
 public:
  GzipStream(int fd, std::string name, StreamLimits limits) : LayerStream(fd, std::move(name), limits, Format::kGzip) {
    std::memset(&z_, 0, sizeof z_);
    ready_ = inflateInit2(&z_, 16 + MAX_WBITS) == Z_OK;  // gzip wrapper only
    input_.resize(kInputChunk);
  }
  ~GzipStream() override { inflateEnd(&z_); }

 protected:
  Result<size_t> Produce(char* out, size_t size) override {
    if (!ready_) return Fail("cannot start zlib");
    z_.next_out = reinterpret_cast<Bytef*>(out);
    z_.avail_out = static_cast<uInt>(size);
    while (z_.avail_out == size) {
      if (z_.avail_in == 0 && !input_done_) {
        BANGER_ASSIGN_OR_RETURN(size_t n, ReadInput(input_.data(), input_.size()));
        if (n == 0) input_done_ = true;
        z_.next_in = reinterpret_cast<Bytef*>(input_.data());
        z_.avail_in = static_cast<uInt>(n);
      }
      if (member_ended_) {
        if (z_.avail_in == 0 && input_done_) return size_t{0};
        // Another member must follow, and nothing else.
        if (z_.avail_in >= 1 && z_.next_in[0] != 0x1f) return Fail("data after the last gzip member is not gzip");
        inflateReset(&z_);
        member_ended_ = false;
      }
      if (z_.avail_in == 0 && input_done_) return Fail("gzip stream is truncated");
      int rc = inflate(&z_, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        member_ended_ = true;
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        return Fail(std::string("gzip data is corrupt: ") + (z_.msg ? z_.msg : "inflate failed"));
      }
    }
    return size - z_.avail_out;
  }

 private:
  z_stream z_;
  bool ready_ = false;
  bool input_done_ = false;
  bool member_ended_ = false;
  std::vector<char> input_;
};

class ZstdStream final : public LayerStream {
 public:
  ZstdStream(int fd, std::string name, StreamLimits limits)
      : LayerStream(fd, std::move(name), limits, Format::kZstd), ctx_(ZSTD_createDCtx()) {
    if (ctx_ != nullptr) {
      ZSTD_DCtx_setParameter(ctx_, ZSTD_d_windowLogMax, limits.zstd_window_log_max);
    }
    input_.resize(kInputChunk);
  }
  ~ZstdStream() override { ZSTD_freeDCtx(ctx_); }

 protected:
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
          return Fail("zstd window exceeds the limit of 2^" + std::to_string(limits_.zstd_window_log_max) +
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

struct LayerStream::Hash {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  Hash() { EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr); }
  ~Hash() { EVP_MD_CTX_free(ctx); }
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
    : fd_(fd), name_(std::move(name)), limits_(limits), format_(format), hash_(std::make_shared<Hash>()) {}

Error LayerStream::Fail(const std::string& what) const { return Error{ErrorCode::kMalformed, name_ + ": " + what}; }

Result<std::unique_ptr<LayerStream>> LayerStream::Open(int fd, std::string name, StreamLimits limits) {
  unsigned char magic[4] = {0, 0, 0, 0};
  ssize_t n = ::pread(fd, magic, sizeof magic, 0);
  if (n < 0) return Error::FromErrno(name + ": reading");
  if (n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) return std::unique_ptr<LayerStream>(new GzipStream(fd, name, limits));
  if (n >= 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd) {
    return std::unique_ptr<LayerStream>(new ZstdStream(fd, name, limits));
  }
  return std::unique_ptr<LayerStream>(new PlainStream(fd, name, limits));
}

Result<size_t> LayerStream::ReadInput(char* out, size_t size) {
  for (;;) {
    ssize_t n = ::pread(fd_, out, size, static_cast<off_t>(consumed_));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::FromErrno(name_ + ": reading");
    consumed_ += static_cast<uint64_t>(n);
    return static_cast<size_t>(n);
  }
}

Result<size_t> LayerStream::Read(char* out, size_t size) {
  BANGER_ASSIGN_OR_RETURN(size_t n, Produce(out, size));
  produced_ += n;
  if (produced_ > limits_.max_uncompressed_bytes) {
    return Error{ErrorCode::kOversized, name_ + ": uncompresses to more than " +
                                            std::to_string(limits_.max_uncompressed_bytes) +
                                            " bytes (the layer size bound)"};
  }
  if (produced_ > limits_.ratio_grace_bytes && produced_ > consumed_ * limits_.max_ratio) {
    return Error{ErrorCode::kOversized, name_ + ": decompression ratio exceeds " + std::to_string(limits_.max_ratio) +
                                            ":1 (a decompression bomb?); the bound is adjustable"};
  }
  EVP_DigestUpdate(hash_->ctx, out, n);
  return n;
}

Result<void> LayerStream::Drain() {
  std::vector<char> sink(64 * 1024);
  for (;;) {
    BANGER_ASSIGN_OR_RETURN(size_t n, Read(sink.data(), sink.size()));
    if (n == 0) return {};
  }
}

std::string LayerStream::Digest() {
  unsigned char md[32];
  unsigned int len = 0;
  EVP_DigestFinal_ex(hash_->ctx, md, &len);
  return Sha256Digest(md);
}

}  // namespace banger::unpacker
