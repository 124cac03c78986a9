// File contents go to the spool, a scratch file the broker gives both the unpacker
// (to write) and the imager (to read); the tree records only point at extents in it.
// Zero-filled 4 KiB blocks are not written: they become holes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "ipc/tree_stream.h"

namespace banger::unpacker {

// Whether `size` bytes at `data` are all zero (such blocks become holes).
bool IsAllZero(const char* data, size_t size);

class SpoolWriter {
 public:
  explicit SpoolWriter(int fd) : fd_(fd) {}
  // Data of the current file at `file_offset` (increasing within a file).
  Result<void> Append(uint64_t file_offset, const char* data, size_t size);
  // The current file's extents; the next Append starts a new file.
  std::vector<ipc::Extent> TakeExtents();
  Result<void> Flush();
  uint64_t bytes_written() const { return end_; }

 private:
  void AddExtent(uint64_t file_offset, uint64_t length);
  int fd_;
  uint64_t end_ = 0;       // logical end of the spool, buffered bytes included
  std::string buffer_;     // bytes for [end_ - buffer_.size(), end_)
  std::vector<ipc::Extent> extents_;
};

}  // namespace banger::unpacker
