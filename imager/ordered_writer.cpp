#include "imager/ordered_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <new>
#include <string_view>
#include <system_error>

#include "base/fd.h"

namespace banger::imager {
namespace {

// Three: one being filled, one being written, one waiting its turn.
constexpr size_t kBuffers = 3;
// Kernel copies waiting at once: a tree of a million sparse pieces must not become a
// million queued writes in memory; the copier waits instead.
constexpr size_t kMaxWritesQueued = 4096;
constexpr uint64_t kWritebackEvery = 32 << 20;
// Direct I/O wants its memory aligned too; a page is enough for every device.
constexpr std::align_val_t kAlignment{4096};

char* NewBuffer() { return static_cast<char*>(::operator new[](OrderedWriter::kBufferBytes, kAlignment)); }

}  // namespace

void OrderedWriter::AlignedFree::operator()(char* p) const { ::operator delete[](p, kAlignment); }

OrderedWriter::OrderedWriter(int spool_fd, int image_fd, int direct_fd)
    : spool_fd_(spool_fd), image_fd_(image_fd), direct_fd_(direct_fd) {}

OrderedWriter::~OrderedWriter() {
  if (!worker_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  worker_.join();
}

Result<char*> OrderedWriter::TakeBuffer() {
  std::unique_lock lock(mutex_);
  if (error_) return *error_;
  if (idle_.empty() && buffers_.size() < kBuffers) {
    buffers_.emplace_back(NewBuffer());
    return buffers_.back().get();
  }
  changed_.wait(lock, [&] { return !idle_.empty() || error_; });
  if (error_) return *error_;
  char* buffer = idle_.back();
  idle_.pop_back();
  return buffer;
}

Result<void> OrderedWriter::WriteBuffer(char* buffer, uint64_t length, uint64_t image_offset) {
  return Submit({buffer, image_offset, 0, length});
}

Result<void> OrderedWriter::CopyRange(uint64_t spool_offset, uint64_t image_offset, uint64_t length) {
  return Submit({nullptr, image_offset, spool_offset, length});
}

Result<void> OrderedWriter::Submit(const Op& op) {
  if (!worker_.joinable()) {
    try {
      worker_ = std::thread([this] { Work(); });
    } catch (const std::system_error& e) {
      return Error{ErrorCode::kIo, std::string("cannot start the image writer thread: ") + e.what()};
    }
  }
  {
    std::unique_lock lock(mutex_);
    if (finishing_) return Error{ErrorCode::kUnexpected, "a write asked of the image writer after it finished"};
    changed_.wait(lock, [&] { return queue_.size() < kMaxWritesQueued || error_; });
    if (error_) {
      if (op.buffer != nullptr) idle_.push_back(op.buffer);
      return *error_;
    }
    queue_.push_back(op);
  }
  changed_.notify_all();
  return {};
}

Result<void> OrderedWriter::Finish() {
  if (worker_.joinable()) {
    {
      std::lock_guard lock(mutex_);
      finishing_ = true;
    }
    changed_.notify_all();
    worker_.join();
  }
  std::lock_guard lock(mutex_);
  if (error_) return *error_;
  return {};
}

void OrderedWriter::Work() {
  for (;;) {
    Op op;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return stopping_ || finishing_ || !queue_.empty(); });
      if (stopping_ || queue_.empty()) return;  // told to stop, or finishing with nothing left
      op = queue_.front();
      queue_.pop_front();
    }
    Result<void> done = Perform(op);
    {
      std::lock_guard lock(mutex_);
      if (op.buffer != nullptr) idle_.push_back(op.buffer);
      if (!done && !error_) error_ = done.error();
    }
    changed_.notify_all();
    if (!done) return;
  }
}

Result<void> OrderedWriter::Perform(const Op& op) {
  if (op.buffer != nullptr) return WriteBlocks(op.buffer, op.length, op.image_offset);
  return KernelCopy(op);
}

Result<void> OrderedWriter::WriteBlocks(const char* data, uint64_t length, uint64_t image_offset) {
  uint64_t done = 0;
  while (done < length && direct_fd_ >= 0 && length >= kDirectFrom) {
    ssize_t n = ::pwrite(direct_fd_, data + done, length - done, static_cast<off_t>(image_offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EINVAL) {
      direct_fd_ = -1;  // this file system wants another alignment: the page cache, then
      direct_refused_.store(true, std::memory_order_relaxed);
      break;
    }
    if (n < 0) return Error::FromErrno("writing file data into the image (direct)");
    if (n == 0) return Error{ErrorCode::kIo, "writing file data into the image (direct): nothing was written"};
    done += static_cast<uint64_t>(n);
  }
  if (done == length) return {};
  BANGER_TRY(PwriteAll(image_fd_, std::string_view(data + done, length - done), image_offset + done,
                       "writing file data into the image"));
  StartWriteback(length - done);
  return {};
}

void OrderedWriter::StartWriteback(uint64_t copied) {
  unflushed_ += copied;
  if (unflushed_ < kWritebackEvery) return;
  unflushed_ = 0;
  // Asynchronous: queues the dirty pages for the disk and returns. A failure here only
  // means the final fsync has more to do.
  (void)::sync_file_range(image_fd_, 0, 0, SYNC_FILE_RANGE_WRITE);
}

Result<void> OrderedWriter::KernelCopy(const Op& op) {
  uint64_t spool_offset = op.spool_offset, image_offset = op.image_offset, length = op.length;
  StartWriteback(length);
  while (length > 0 && kernel_copy_) {
    loff_t in = static_cast<loff_t>(spool_offset), out = static_cast<loff_t>(image_offset);
    ssize_t n = ::copy_file_range(spool_fd_, &in, image_fd_, &out, length, 0);
    if (n > 0) {
      spool_offset += static_cast<uint64_t>(n);
      image_offset += static_cast<uint64_t>(n);
      length -= static_cast<uint64_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) return Error{ErrorCode::kTruncated, "the spool ends before a file's data"};
    if (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP || errno == EPERM) {
      kernel_copy_ = false;  // e.g. spool and image on different filesystems
      break;
    }
    return Error::FromErrno("copying file data into the image");
  }
  return length == 0 ? Result<void>() : CopyThroughBuffer(spool_offset, image_offset, length);
}

Result<void> OrderedWriter::CopyThroughBuffer(uint64_t spool_offset, uint64_t image_offset, uint64_t length) {
  if (!bounce_) bounce_.reset(NewBuffer());
  while (length > 0) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(kBufferBytes, length));
    ssize_t n = ::pread(spool_fd_, bounce_.get(), want, static_cast<off_t>(spool_offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::FromErrno("reading the spool");
    if (n == 0) return Error{ErrorCode::kTruncated, "the spool ends before a file's data"};
    BANGER_TRY(PwriteAll(image_fd_, std::string_view(bounce_.get(), static_cast<size_t>(n)), image_offset,
                         "writing file data into the image"));
    spool_offset += static_cast<uint64_t>(n);
    image_offset += static_cast<uint64_t>(n);
    length -= static_cast<uint64_t>(n);
  }
  return {};
}

}  // namespace banger::imager
