// The image's file data written on a thread of its own, in the order it was asked for,
// so that reading the next bytes from the spool overlaps the disk taking the last ones
// (a direct write waits for the disk; on a copy of 227 MB that wait was two thirds of
// the copier's time). Two kinds of write: a page-aligned buffer of whole blocks (from a
// small pool the caller fills and hands back), and a kernel copy of a spool range.
// Keeping one order matters: a later piece of a sparse file can land inside a block an
// earlier buffer wrote with zeros after its end, and the later write must win.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "base/result.h"

namespace banger::imager {

class OrderedWriter {
 public:
  static constexpr uint64_t kBufferBytes = 4 << 20;
  // A direct write waits for the disk even on this thread, and small ones cost more in
  // waiting than in finding pages: smaller buffers go through the page cache.
  static constexpr uint64_t kDirectFrom = 1 << 20;

  // `direct_fd`: the image opened O_DIRECT, or -1 to write through the page cache only.
  OrderedWriter(int spool_fd, int image_fd, int direct_fd);
  ~OrderedWriter();
  OrderedWriter(const OrderedWriter&) = delete;
  OrderedWriter& operator=(const OrderedWriter&) = delete;

  // A buffer of kBufferBytes, page-aligned, to fill; waits while every one is being
  // written. An earlier write's failure comes back here.
  Result<char*> TakeBuffer();
  // Writes `length` bytes (whole blocks) of `buffer` at `image_offset` after every
  // earlier write, directly when it is large enough; the buffer is the writer's again.
  Result<void> WriteBuffer(char* buffer, uint64_t length, uint64_t image_offset);
  // Copies spool bytes [spool_offset, +length) to `image_offset` after every earlier
  // write: copy_file_range, else through a buffer.
  Result<void> CopyRange(uint64_t spool_offset, uint64_t image_offset, uint64_t length);
  // Waits until everything asked is written; the first failure, if any. Nothing may be
  // asked after it.
  Result<void> Finish();
  // Whether the file system refused a direct write (EINVAL): buffers then go through
  // the page cache, and large runs are better left to the kernel's copy.
  bool direct_refused() const { return direct_refused_.load(std::memory_order_relaxed); }

 private:
  struct Op {
    char* buffer;  // nullptr: a kernel copy
    uint64_t image_offset, spool_offset, length;
  };
  struct AlignedFree {
    void operator()(char* p) const;
  };
  Result<void> Submit(const Op& op);
  void Work();
  Result<void> Perform(const Op& op);
  Result<void> WriteBlocks(const char* data, uint64_t length, uint64_t image_offset);
  Result<void> KernelCopy(const Op& op);
  Result<void> CopyThroughBuffer(uint64_t spool_offset, uint64_t image_offset, uint64_t length);
  void StartWriteback(uint64_t copied);

  // The worker's own state.
  int spool_fd_, image_fd_;
  int direct_fd_;            // -1 once a direct write is refused (EINVAL): buffered from then on
  std::atomic<bool> direct_refused_{false};
  bool kernel_copy_ = true;  // off once the kernel says the two files cannot copy directly
  uint64_t unflushed_ = 0;   // bytes written through the page cache since writeback last started

  std::vector<std::unique_ptr<char, AlignedFree>> buffers_;  // the pool, owned here
  std::unique_ptr<char, AlignedFree> bounce_;  // the worker's, where the kernel cannot copy

  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<char*> idle_;  // buffers nobody holds
  std::deque<Op> queue_;
  bool finishing_ = false;
  bool stopping_ = false;
  std::optional<Error> error_;
  std::thread worker_;
};

}  // namespace banger::imager
