#include "imager/data_copy.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>

namespace banger::imager {
namespace {

constexpr uint64_t kWritebackEvery = 32 << 20;
constexpr uint64_t kMaxMerged = 64 << 20;

}  // namespace

void DataCopier::Copy(uint64_t spool_offset, uint64_t image_offset, uint64_t length) {
  if (length > 0) jobs_.push_back({image_offset, spool_offset, length});
}

Result<void> DataCopier::Finish() {
  std::sort(jobs_.begin(), jobs_.end(), [](const Job& a, const Job& b) { return a.image_offset < b.image_offset; });
  std::optional<Job> run;
  for (const Job& job : jobs_) {
    if (run && run->image_offset + run->length == job.image_offset &&
        run->spool_offset + run->length == job.spool_offset && run->length + job.length <= kMaxMerged) {
      run->length += job.length;
      continue;
    }
    if (run) BANGER_TRY(CopyNow(*run));
    run = job;
  }
  if (run) BANGER_TRY(CopyNow(*run));
  jobs_.clear();
  return {};
}

void DataCopier::StartWriteback(uint64_t copied) {
  unflushed_ += copied;
  if (unflushed_ < kWritebackEvery) return;
  unflushed_ = 0;
  // Asynchronous: queues the dirty pages for the disk and returns. A failure here only
  // means the final fsync has more to do.
  (void)::sync_file_range(image_fd_, 0, 0, SYNC_FILE_RANGE_WRITE);
}

Result<void> DataCopier::CopyNow(const Job& job) {
  uint64_t spool_offset = job.spool_offset, image_offset = job.image_offset, length = job.length;
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

Result<void> DataCopier::CopyThroughBuffer(uint64_t spool_offset, uint64_t image_offset, uint64_t length) {
  if (buffer_.empty()) buffer_.resize(1 << 20);
  while (length > 0) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buffer_.size(), length));
    ssize_t n = ::pread(spool_fd_, buffer_.data(), want, static_cast<off_t>(spool_offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::FromErrno("reading the spool");
    if (n == 0) return Error{ErrorCode::kTruncated, "the spool ends before a file's data"};
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::pwrite(image_fd_, buffer_.data() + done, static_cast<size_t>(n - done),
                           static_cast<off_t>(image_offset + static_cast<uint64_t>(done)));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return Error::FromErrno("writing file data into the image");
      done += w;
    }
    spool_offset += static_cast<uint64_t>(n);
    image_offset += static_cast<uint64_t>(n);
    length -= static_cast<uint64_t>(n);
  }
  return {};
}

}  // namespace banger::imager
