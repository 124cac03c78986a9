#include "imager/data_copy.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <cerrno>
#include <new>
#include <optional>
#include <system_error>

#include "base/fd.h"

namespace banger::imager {
namespace {

constexpr uint64_t kMaxMerged = 64 << 20;
constexpr size_t kMaxQueued = 8192;
constexpr uint64_t kBlock = 4096;
constexpr uint64_t kGatherBytes = OrderedWriter::kBufferBytes;  // one write of neighbouring small files
constexpr uint64_t kKernelCopyFrom = 256 << 10;  // larger copies stay in the kernel
// The worker is woken for this many jobs at once, or when it has waited this long: a
// wake-up per small file cost more than the copy.
constexpr size_t kWakeBatch = 256;
constexpr auto kWakeAfter = std::chrono::milliseconds(2);
// Small files are read from the spool through a window this large: neighbours in the
// image are mostly neighbours in the spool too, and one read serves many of them.
constexpr uint64_t kSpoolWindow = 256 << 10;

uint64_t BlockStart(uint64_t offset) { return offset / kBlock * kBlock; }
uint64_t BlockEnd(uint64_t offset) { return (offset + kBlock - 1) / kBlock * kBlock; }

// Runs this large go through a buffer to the direct descriptor (ordered_writer.h).
constexpr uint64_t kDirectFrom = OrderedWriter::kDirectFrom;

Result<void> PreadExactly(int fd, char* into, uint64_t length, uint64_t offset) {
  for (uint64_t done = 0; done < length;) {
    ssize_t n = ::pread(fd, into + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::FromErrno("reading the spool");
    if (n == 0) return Error{ErrorCode::kTruncated, "the spool ends before a file's data"};
    done += static_cast<uint64_t>(n);
  }
  return {};
}

}  // namespace

Result<char*> DataCopier::Buffer() {
  if (buffer_ == nullptr) {
    BANGER_ASSIGN_OR_RETURN(buffer_, writer_.TakeBuffer());
  }
  return buffer_;
}

DataCopier::~DataCopier() { Stop(); }

void DataCopier::Stop() {
  if (!worker_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  worker_.join();
}

Result<void> DataCopier::Copy(uint64_t spool_offset, uint64_t image_offset, uint64_t length) {
  if (length == 0) return {};
  if (!worker_.joinable()) {
    try {
      worker_ = std::thread([this] { Work(); });
    } catch (const std::system_error& e) {
      return Error{ErrorCode::kIo, std::string("cannot start the data copy thread: ") + e.what()};
    }
  }
  std::unique_lock lock(mutex_);
  if (queue_.size() >= kMaxQueued && !error_) {
    producer_waiting_ = true;
    changed_.wait(lock, [&] { return queue_.size() < kMaxQueued || error_; });
    producer_waiting_ = false;
  }
  if (error_) return *error_;
  queue_.push_back({image_offset, spool_offset, length});
  if (worker_waiting_ && queue_.size() == kWakeBatch) changed_.notify_all();
  return {};
}

Result<void> DataCopier::Finish() {
  if (worker_.joinable()) {
    {
      std::lock_guard lock(mutex_);
      finishing_ = true;
    }
    changed_.notify_all();
    worker_.join();
  }
  if (error_) return *error_;
  return {};
}

void DataCopier::Work() {
  auto fail = [this](const Error& e) {
    std::lock_guard lock(mutex_);
    error_ = e;
    changed_.notify_all();
  };
  std::deque<Job> batch;
  for (;;) {
    bool room_wanted = false;
    {
      std::unique_lock lock(mutex_);
      worker_waiting_ = true;
      // A full batch, or whatever is queued once a moment has passed.
      while (!stopping_ && !finishing_ && queue_.size() < kWakeBatch) {
        if (!changed_.wait_for(lock, kWakeAfter, [&] { return stopping_ || finishing_ || queue_.size() >= kWakeBatch; }) &&
            !queue_.empty()) {
          break;
        }
      }
      worker_waiting_ = false;
      if (stopping_) return;
      if (queue_.empty()) break;  // finishing, and every job taken
      batch.swap(queue_);
      room_wanted = producer_waiting_;
    }
    if (room_wanted) changed_.notify_all();  // room in the queue again
    for (const Job& job : batch) {
      if (auto done = Process(job); !done) return fail(done.error());
    }
    batch.clear();
  }
  Result<void> last = run_ ? CopyNow(*run_) : Result<void>();
  run_.reset();
  if (last) last = FlushGathered();
  if (last) last = writer_.Finish();
  if (!last) fail(last.error());
}

Result<void> DataCopier::Process(const Job& job) {
  if (run_ && run_->image_offset + run_->length == job.image_offset &&
      run_->spool_offset + run_->length == job.spool_offset && run_->length + job.length <= kMaxMerged) {
    run_->length += job.length;
    return {};
  }
  if (run_) {
    BANGER_TRY(CopyNow(*run_));
    run_.reset();
  }
  // A piece starting inside a block (a sparse file's map can put one there) goes by an
  // exact copy: gathering it would zero the bytes before it, which an earlier copy of the
  // same file may have written.
  if (job.length >= kKernelCopyFrom || job.image_offset % kBlock != 0) {
    BANGER_TRY(FlushGathered());
    run_ = job;
    return {};
  }
  return Gather(job);
}

// Small files lie in neighbouring blocks of the image but scattered over the spool: each
// is read into its place in one buffer that covers whole blocks (the rest of a file's
// last block is zeros, as the image needs), and the buffer goes out in one write. Only
// blocks that jobs cover are ever in it, so no metadata block between files is touched,
// and every job here starts a block, so nothing written before it in its block is lost
// (what follows it in the block comes later, and later writes win).
Result<void> DataCopier::Gather(const Job& job) {
  const uint64_t first = BlockStart(job.image_offset), end = BlockEnd(job.image_offset + job.length);
  if (gathered_end_ > gathered_start_ &&
      (first < gathered_start_ || first > gathered_end_ || end - gathered_start_ > kGatherBytes)) {
    BANGER_TRY(FlushGathered());
  }
  if (gathered_end_ == gathered_start_) gathered_start_ = gathered_end_ = first;
  BANGER_ASSIGN_OR_RETURN(char* buffer, Buffer());
  if (end > gathered_end_) {
    std::memset(buffer + (gathered_end_ - gathered_start_), 0, end - gathered_end_);
    gathered_end_ = end;
  }
  return ReadSpool(job.spool_offset, job.length, buffer + (job.image_offset - gathered_start_));
}

// `length` bytes of the spool at `offset`, through the window when they fit in it.
Result<void> DataCopier::ReadSpool(uint64_t offset, uint64_t length, char* into) {
  const bool in_window = offset >= window_start_ && offset + length <= window_start_ + window_length_;
  if (!in_window && length <= kSpoolWindow / 4) {
    if (window_.size() < kSpoolWindow) window_.resize(kSpoolWindow);
    window_start_ = offset;
    window_length_ = 0;
    while (window_length_ < length) {
      ssize_t n = ::pread(spool_fd_, window_.data() + window_length_, kSpoolWindow - window_length_,
                          static_cast<off_t>(offset + window_length_));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Error::FromErrno("reading the spool");
      if (n == 0) return Error{ErrorCode::kTruncated, "the spool ends before a file's data"};
      window_length_ += static_cast<uint64_t>(n);
    }
  } else if (!in_window) {
    return PreadExactly(spool_fd_, into, length, offset);
  }
  std::memcpy(into, window_.data() + (offset - window_start_), length);
  return {};
}

Result<void> DataCopier::FlushGathered() {
  const uint64_t length = gathered_end_ - gathered_start_;
  if (length > 0) BANGER_TRY(WriteBlocks(length, gathered_start_));
  gathered_start_ = gathered_end_ = 0;
  return {};
}

Result<void> DataCopier::WriteBlocks(uint64_t length, uint64_t image_offset) {
  char* buffer = buffer_;
  buffer_ = nullptr;
  return writer_.WriteBuffer(buffer, length, image_offset);
}

// A large file's run, block-aligned in the image, through the aligned buffer in pieces;
// the last block's tail past the run is zeros, as a file's last block must be (what
// follows in the same block, a later piece of a sparse file, is written after it).
Result<void> DataCopier::CopyDirect(const Job& job) {
  for (uint64_t done = 0; done < job.length;) {
    const uint64_t piece = std::min<uint64_t>(job.length - done, kGatherBytes);
    BANGER_ASSIGN_OR_RETURN(char* data, Buffer());
    BANGER_TRY(PreadExactly(spool_fd_, data, piece, job.spool_offset + done));
    const uint64_t whole = BlockEnd(piece);
    std::memset(data + piece, 0, whole - piece);
    BANGER_TRY(WriteBlocks(whole, job.image_offset + done));
    done += piece;
  }
  return {};
}

Result<void> DataCopier::CopyNow(const Job& job) {
  if (direct_ && !writer_.direct_refused() && job.image_offset % kBlock == 0 && job.length >= kDirectFrom) {
    return CopyDirect(job);
  }
  return writer_.CopyRange(job.spool_offset, job.image_offset, job.length);
}

}  // namespace banger::imager
