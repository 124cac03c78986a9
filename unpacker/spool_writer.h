// File contents go where the image's data region will be (docs/architecture.md, "How a
// content byte travels"): the unpacker writes them into rootfs.ext4 from
// ipc::kDataRegionStart on, and the imager maps each file's blocks where they already
// are. The tree records only point at extents in it.
//
// So every file starts on a 4 KiB boundary and a byte's place within its block is its
// place within the file's block (spool offset = file offset, modulo 4 KiB); a file's
// last block is padded with zeros, and a zero-filled 4 KiB block is not written (a
// hole). Every write covers whole blocks at a block offset from a page-aligned buffer,
// so the descriptor may be O_DIRECT; the block holding the end is written whole, zeros
// after the end, and again when more data follows.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "ipc/tree_stream.h"

namespace banger::unpacker {

// Whether `size` bytes at `data` are all zero (such blocks become holes).
bool IsAllZero(const char* data, size_t size);

// The writes themselves happen on a thread of their own from two buffers, so parsing the
// next entries overlaps the disk taking the last ones (a direct write waits for the disk;
// 200 000 small files are 800 MB of blocks).
class SpoolWriter {
 public:
  // Data goes to `fd` from `base` (a multiple of 4 KiB) on.
  explicit SpoolWriter(int fd, uint64_t base = 0);
  ~SpoolWriter();
  SpoolWriter(const SpoolWriter&) = delete;
  SpoolWriter& operator=(const SpoolWriter&) = delete;
  // Data of the current file at `file_offset` (increasing within a file).
  Result<void> Append(uint64_t file_offset, const char* data, size_t size);
  // The current file's extents; the next Append starts a new file, on a new block.
  std::vector<ipc::Extent> TakeExtents();
  // Writes what is buffered, the last block padded with zeros, and waits until every
  // write is done; the first failure, if any.
  Result<void> Flush();
  // Bytes from `base` to the end, padding included.
  uint64_t bytes_written() const { return end_ - base_; }

 private:
  struct AlignedFree {
    void operator()(char* p) const;
  };
  // Where a piece at `file_offset` goes: after everything written, at its offset within
  // its block, in the same spool block as the file's last piece when it shares its block.
  uint64_t PlaceFor(uint64_t file_offset) const;
  Result<void> Put(uint64_t at, const char* data, size_t size);
  void AddExtent(uint64_t file_offset, uint64_t length, uint64_t spool_offset);
  // Hands the buffer's whole blocks (and, with `pad`, the partial last one padded with
  // zeros) to the writer and goes on in the other buffer, the partial block carried over.
  Result<void> WriteOut(bool pad);
  // Waits until the writer is idle; its first failure, if any.
  Result<void> WaitIdle();
  void Work();

  int fd_;
  uint64_t base_;
  uint64_t end_;    // where the next byte would go, buffered bytes included
  uint64_t start_;  // spool offset of the buffer's first byte, a block boundary
  std::unique_ptr<char, AlignedFree> buffers_[2];  // page-aligned
  int current_ = 0;  // the buffer holding [start_, end_)

  // The writer: one write at a time, of the buffer that is not current.
  std::mutex mutex_;
  std::condition_variable changed_;
  struct Write {
    const char* data;
    uint64_t length, offset;
  };
  std::optional<Write> pending_;
  bool stopping_ = false;
  std::optional<Error> error_;
  std::thread worker_;
  // The current file's last written block: its number in the file and where it is.
  bool file_started_ = false;
  uint64_t last_file_block_ = 0, last_spool_block_ = 0;
  std::vector<ipc::Extent> extents_;
};

}  // namespace banger::unpacker
