// File bytes from the spool into their blocks in the image. Copies are queued while
// libext2fs writes the metadata and made at the end, in image order (interleaved, the two
// kinds of writes to the one image file serialise on its inode lock). Large files go by
// copy_file_range (the kernel copies, no user buffer), merged where they continue each
// other in both files; small files in neighbouring blocks are gathered into one buffer
// and written at once. Writeback starts every 32 MiB, so the final fsync waits for little.
#pragma once

#include <cstdint>
#include <vector>

#include "ipc/result.h"

namespace banger::imager {

class DataCopier {
 public:
  DataCopier(int spool_fd, int image_fd) : spool_fd_(spool_fd), image_fd_(image_fd) {}

  // Queues a copy.
  void Copy(uint64_t spool_offset, uint64_t image_offset, uint64_t length);
  // Makes every queued copy.
  Result<void> Finish();

 private:
  struct Job {
    uint64_t image_offset, spool_offset, length;
  };
  Result<void> CopyNow(const Job& job);
  Result<void> Gather(const Job& job);
  Result<void> FlushGathered();
  Result<void> CopyThroughBuffer(uint64_t spool_offset, uint64_t image_offset, uint64_t length);
  void StartWriteback(uint64_t copied);

  int spool_fd_, image_fd_;
  bool kernel_copy_ = true;  // off once the kernel says the two files cannot copy directly
  uint64_t unflushed_ = 0;   // bytes copied since writeback last started
  std::vector<char> buffer_;     // gathered blocks, or a bounce buffer when the kernel cannot copy
  uint64_t gathered_start_ = 0;  // image range the buffer holds, whole blocks
  uint64_t gathered_end_ = 0;
  std::vector<Job> jobs_;
};

}  // namespace banger::imager
