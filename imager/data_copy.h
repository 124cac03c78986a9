// File bytes from the spool into their blocks in the image, on a thread of their own so
// that copying overlaps libext2fs's work on the next records, and the writes on another
// (ordered_writer.h) so that reading the next bytes overlaps the disk taking the last.
// Large files go by copy_file_range (the kernel copies, no user buffer), merged where
// they continue each other in both files; small files in neighbouring blocks are
// gathered into one buffer and written at once (few, large writes also keep the threads
// from queueing on the image file's inode lock). Given a direct-I/O descriptor of the
// image, whole aligned blocks, 1 MiB or more at once (gathered small files, and large
// files), go to the disk from a page-aligned buffer instead (docs/imager.md): the
// image's data then never fills the page cache, which the kernel would otherwise have to
// find pages for, copy into, and write back.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "base/result.h"
#include "imager/ordered_writer.h"

namespace banger::imager {

class DataCopier {
 public:
  // `direct_fd`: the image opened O_DIRECT, or -1 to write through the page cache only.
  DataCopier(int spool_fd, int image_fd, int direct_fd = -1)
      : spool_fd_(spool_fd), direct_(direct_fd >= 0), writer_(spool_fd, image_fd, direct_fd) {}
  ~DataCopier();
  DataCopier(const DataCopier&) = delete;
  DataCopier& operator=(const DataCopier&) = delete;

  // Queues a copy; a failure of an earlier one comes back here or from Finish.
  Result<void> Copy(uint64_t spool_offset, uint64_t image_offset, uint64_t length);
  // Waits until every queued copy is made.
  Result<void> Finish();

 private:
  struct Job {
    uint64_t image_offset, spool_offset, length;
  };
  void Work();
  void Stop();
  Result<void> Process(const Job& job);
  Result<void> CopyNow(const Job& job);
  Result<void> Gather(const Job& job);
  Result<void> ReadSpool(uint64_t offset, uint64_t length, char* into);
  Result<void> FlushGathered();
  Result<void> CopyDirect(const Job& job);
  // Hands the buffer's first `length` bytes (whole blocks) to the writer for
  // `image_offset`; the next Buffer() is another.
  Result<void> WriteBlocks(uint64_t length, uint64_t image_offset);
  // The buffer being filled: gathered blocks, or a piece of a large file.
  Result<char*> Buffer();

  int spool_fd_;
  bool direct_;  // large runs go through a buffer to the direct descriptor, not the kernel's copy
  OrderedWriter writer_;
  char* buffer_ = nullptr;  // OrderedWriter::kBufferBytes, page-aligned, the writer's
  uint64_t gathered_start_ = 0;  // image range the buffer holds, whole blocks
  uint64_t gathered_end_ = 0;
  std::optional<Job> run_;       // a large copy, grown while the next continues it in both files
  std::vector<char> window_;     // spool bytes [window_start_, +window_length_), for small files
  uint64_t window_start_ = 0, window_length_ = 0;

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Job> queue_;
  bool finishing_ = false;  // no more jobs: flush and end
  bool stopping_ = false;   // end now
  bool worker_waiting_ = false;    // the worker sleeps until a batch is queued
  bool producer_waiting_ = false;  // Copy sleeps until the queue has room
  std::optional<Error> error_;
  std::thread worker_;
};

}  // namespace banger::imager
