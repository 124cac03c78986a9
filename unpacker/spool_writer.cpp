#include "unpacker/spool_writer.h"

#include <cstring>

#include "base/fd.h"

namespace banger::unpacker {
namespace {

constexpr uint64_t kBlock = 4096;
constexpr size_t kFlushAt = 1 << 20;

}  // namespace

bool IsAllZero(const char* data, size_t size) {
  return size == 0 || (data[0] == 0 && std::memcmp(data, data + 1, size - 1) == 0);
}

void SpoolWriter::AddExtent(uint64_t file_offset, uint64_t length) {
  const uint64_t spool_offset = end_ - length;
  if (!extents_.empty()) {
    ipc::Extent& last = extents_.back();
    if (last.file_offset + last.length == file_offset && last.spool_offset + last.length == spool_offset) {
      last.length += length;
      return;
    }
  }
  extents_.push_back({file_offset, length, spool_offset});
}

Result<void> SpoolWriter::Append(uint64_t file_offset, const char* data, size_t size) {
  // Walk the data in pieces that end on 4 KiB boundaries of the file, so each whole
  // zero block can be left out.
  while (size > 0) {
    uint64_t piece = kBlock - (file_offset % kBlock);
    if (piece > size) piece = size;
    if (!IsAllZero(data, piece)) {
      buffer_.append(data, piece);
      end_ += piece;
      AddExtent(file_offset, piece);
      if (buffer_.size() >= kFlushAt) BANGER_TRY(Flush());
    }
    file_offset += piece;
    data += piece;
    size -= piece;
  }
  return {};
}

std::vector<ipc::Extent> SpoolWriter::TakeExtents() {
  std::vector<ipc::Extent> out;
  out.swap(extents_);
  return out;
}

Result<void> SpoolWriter::Flush() {
  BANGER_TRY(PwriteAll(fd_, buffer_, end_ - buffer_.size(), "writing the spool"));
  buffer_.clear();
  return {};
}

}  // namespace banger::unpacker
