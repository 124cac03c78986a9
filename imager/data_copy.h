// File bytes from the spool into their blocks in the image, on a thread of their own so
// that copying overlaps the libext2fs work of the next files: copy_file_range (the
// kernel copies, no user buffer) when both files allow it, else pread/pwrite through one
// reused buffer. Copies that continue the previous one in both files are merged, and
// writeback of what was copied starts every 32 MiB, so the final fsync waits for little.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "ipc/result.h"

namespace banger::imager {

class DataCopier {
 public:
  DataCopier(int spool_fd, int image_fd) : spool_fd_(spool_fd), image_fd_(image_fd) {}
  ~DataCopier();
  DataCopier(const DataCopier&) = delete;
  DataCopier& operator=(const DataCopier&) = delete;

  // Queues a copy; an error of an earlier copy comes back here or from Finish.
  Result<void> Copy(uint64_t spool_offset, uint64_t image_offset, uint64_t length);
  // Waits for every queued copy.
  Result<void> Finish();

 private:
  struct Job {
    uint64_t spool_offset, image_offset, length;
  };
  void Work();
  Result<void> CopyNow(const Job& job);
  Result<void> CopyThroughBuffer(uint64_t spool_offset, uint64_t image_offset, uint64_t length);
  void StartWriteback(uint64_t copied);
  void Stop();

  int spool_fd_, image_fd_;
  bool kernel_copy_ = true;  // off once the kernel says the two files cannot copy directly
  uint64_t unflushed_ = 0;   // bytes copied since writeback last started
  std::vector<char> buffer_;

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Job> queue_;
  bool busy_ = false;      // the worker is copying a job it took
  bool stopping_ = false;
  std::optional<Error> error_;
  std::thread worker_;
};

}  // namespace banger::imager
