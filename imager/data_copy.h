// File bytes from the spool into their blocks in the image, in large copies:
// copy_file_range (the kernel copies, no user buffer) when both files allow it, else
// pread/pwrite through one reused buffer. Writeback of what was copied starts as the
// copies go, so the final fsync waits for little more than the metadata.
#pragma once

#include <cstdint>
#include <vector>

#include "ipc/result.h"

namespace banger::imager {

class DataCopier {
 public:
  DataCopier(int spool_fd, int image_fd) : spool_fd_(spool_fd), image_fd_(image_fd) {}
  Result<void> Copy(uint64_t spool_offset, uint64_t image_offset, uint64_t length);

 private:
  Result<void> CopyThroughBuffer(uint64_t spool_offset, uint64_t image_offset, uint64_t length);
  void StartWriteback(uint64_t copied);
  int spool_fd_, image_fd_;
  uint64_t unflushed_ = 0;   // bytes copied since writeback last started
  bool kernel_copy_ = true;  // off once the kernel says the two files cannot copy directly
  std::vector<char> buffer_;
};

}  // namespace banger::imager
