#include "broker/pull/region_copy.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string_view>
#include <vector>

#include "base/aligned_buffer.h"
#include "base/fd.h"

namespace banger::broker {
namespace {

constexpr uint64_t kPiece = 4 << 20;
constexpr uint64_t kBlock = 4096;
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

// Whether the page cache holds every page of [offset, offset + length) of the file
// `map` maps from `map_start` (mincore); false when it cannot tell.
bool Cached(const char* map, uint64_t map_start, uint64_t offset, uint64_t length) {
  if (map == nullptr) return false;
  const uint64_t pages = (length + kBlock - 1) / kBlock;
  std::vector<unsigned char> resident(pages);
  if (::mincore(const_cast<char*>(map) + (offset - map_start), length, resident.data()) != 0) return false;
  return std::all_of(resident.begin(), resident.end(), [](unsigned char r) { return (r & 1) != 0; });
}

// `length` bytes at `offset` into `buffer`: from the page cache when it holds them all,
// else directly from the disk when there is a direct descriptor; what that leaves, the
// plain read does. Returns the bytes read.
Result<uint64_t> ReadPiece(int from, int& from_direct, bool cached, char* buffer, uint64_t length, uint64_t offset) {
  uint64_t done = 0;
  if (!cached && from_direct >= 0) {
    ssize_t direct = 0;
    do {
      direct = ::pread(from_direct, buffer, (length + kBlock - 1) / kBlock * kBlock, static_cast<off_t>(offset));
    } while (direct < 0 && errno == EINTR);
    if (direct < 0 && errno == EINVAL) from_direct = -1;  // no direct I/O here after all
    else if (direct < 0) return Error::FromErrno("reading the cached image (direct)");
    else done = std::min<uint64_t>(static_cast<uint64_t>(direct), length);
    if (done % kBlock != 0) done = 0;  // a short direct read: read it all again, plainly
  }
  while (done < length) {
    ssize_t more = ::pread(from, buffer + done, length - done, static_cast<off_t>(offset + done));
    if (more < 0 && errno == EINTR) continue;
    if (more < 0) return Error::FromErrno("reading the cached image");
    if (more == 0) break;
    done += static_cast<uint64_t>(more);
  }
  return done;
}

}  // namespace

Result<void> CopyDataRegion(int from, int from_direct, int to, int to_direct, uint64_t start, uint64_t length) {
  AlignedBuffer buffer = MakeAlignedBuffer(kPiece);
  const uint64_t end = start + length;
  // A read-only map of the region, only to ask which pages are cached.
  void* mapped = length == 0 ? MAP_FAILED : ::mmap(nullptr, length, PROT_READ, MAP_SHARED, from, static_cast<off_t>(start));
  const char* map = mapped == MAP_FAILED ? nullptr : static_cast<const char*>(mapped);
  struct Unmap {
    void* p;
    uint64_t n;
    ~Unmap() {
      if (p != MAP_FAILED) ::munmap(p, n);
    }
  } unmap{mapped, length};
  for (uint64_t at = start; at < end;) {
    BANGER_ASSIGN_OR_RETURN(auto range, NextData(from, at, end));
    if (range.first >= end) break;
    for (uint64_t offset = range.first / kBlock * kBlock; offset < range.second;) {
      const uint64_t piece = std::min(kPiece, range.second - offset);
      const bool cached = Cached(map, start, offset, piece);
      BANGER_ASSIGN_OR_RETURN(const uint64_t read, ReadPiece(from, from_direct, cached, buffer.get(), piece, offset));
      if (read == 0) return Error{ErrorCode::kTruncated, "the cached image ends inside its data region"};
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
