#include "broker/pull/region_copy.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <new>
#include <string_view>

#include "base/fd.h"

namespace banger::broker {
namespace {

constexpr uint64_t kPiece = 4 << 20;
constexpr uint64_t kBlock = 4096;
constexpr std::align_val_t kAlignment{kBlock};

struct AlignedFree {
  void operator()(char* p) const { ::operator delete[](p, kAlignment); }
};

// The next data range of `fd` at or after `at`, before `end`: [first, last); none when
// only a hole is left.
Result<std::pair<uint64_t, uint64_t>> NextData(int fd, uint64_t at, uint64_t end) {
  off_t data = ::lseek(fd, static_cast<off_t>(at), SEEK_DATA);
  if (data < 0 && errno == ENXIO) return std::pair<uint64_t, uint64_t>{end, end};
  if (data < 0) return Error::FromErrno("finding the cached image's data (lseek SEEK_DATA)");
  if (static_cast<uint64_t>(data) >= end) return std::pair<uint64_t, uint64_t>{end, end};
  off_t hole = ::lseek(fd, data, SEEK_HOLE);
  if (hole < 0) return Error::FromErrno("finding the cached image's holes (lseek SEEK_HOLE)");
  return std::pair<uint64_t, uint64_t>{static_cast<uint64_t>(data), std::min<uint64_t>(hole, end)};
}

}  // namespace

Result<void> CopyDataRegion(int from, int to, int to_direct, uint64_t start, uint64_t length) {
  std::unique_ptr<char, AlignedFree> buffer(static_cast<char*>(::operator new[](kPiece, kAlignment)));
  const uint64_t end = start + length;
  for (uint64_t at = start; at < end;) {
    BANGER_ASSIGN_OR_RETURN(auto range, NextData(from, at, end));
    if (range.first >= end) break;
    for (uint64_t offset = range.first / kBlock * kBlock; offset < range.second;) {
      const uint64_t piece = std::min(kPiece, range.second - offset);
      ssize_t got = 0;
      do {
        got = ::pread(from, buffer.get(), piece, static_cast<off_t>(offset));
      } while (got < 0 && errno == EINTR);
      if (got < 0) return Error::FromErrno("reading the cached image");
      if (got == 0) return Error{ErrorCode::kTruncated, "the cached image ends inside its data region"};
      const uint64_t read = static_cast<uint64_t>(got);
      const uint64_t whole = (read + kBlock - 1) / kBlock * kBlock;
      std::fill(buffer.get() + read, buffer.get() + whole, '\0');
      ssize_t put = -1;
      if (to_direct >= 0) {
        do {
          put = ::pwrite(to_direct, buffer.get(), whole, static_cast<off_t>(offset));
        } while (put < 0 && errno == EINTR);
        if (put < 0 && errno == EINVAL) to_direct = -1;  // no direct I/O here after all
        else if (put < 0) return Error::FromErrno("copying the cached image's data (direct)");
      }
      if (put != static_cast<ssize_t>(whole)) {
        const uint64_t done = put > 0 ? static_cast<uint64_t>(put) : 0;
        BANGER_TRY(PwriteAll(to, std::string_view(buffer.get() + done, whole - done), offset + done,
                             "copying the cached image's data"));
      }
      offset += read;
    }
    at = range.second;
  }
  return {};
}

}  // namespace banger::broker
