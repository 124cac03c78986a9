// File descriptors: UniqueFd owns one and closes it exactly once; the helpers below are
// the one place each descriptor job (write all, dup, reopen, read a small file) is done.
#pragma once

#include <sys/un.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/result.h"

namespace banger {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// All of a small file (pread from offset 0), refusing more than `limit` bytes; errors
// name `what`.
Result<std::string> ReadWholeFd(int fd, uint64_t limit, const std::string& what);

// All of the file at `path`, read until its end (for /proc and /sys files, whose size
// stat says is 0), refusing more than `limit` bytes; errors name the path.
Result<std::string> ReadSmallFile(const std::string& path, uint64_t limit);

// Writes all of `bytes` at the file offset (write) or at `offset` (pwrite), retried on
// EINTR and short writes; errors name `what` and keep their errno's class (a full disk is
// kNoSpace). A pipe whose reader is gone is EPIPE (banger ignores SIGPIPE where it writes
// to one).
Result<void> WriteAll(int fd, std::string_view bytes, const std::string& what);
Result<void> PwriteAll(int fd, std::string_view bytes, uint64_t offset, const std::string& what);

// A close-on-exec pipe: {read end, write end}. A non-zero `capacity` asks the kernel for
// that much buffer (F_SETPIPE_SZ, best effort); `nonblocking_read` makes reads never wait.
struct Pipe {
  UniqueFd read, write;
};
Result<Pipe> CreatePipe(size_t capacity = 0, bool nonblocking_read = false);

// What one SpliceFromPipe moved: `bytes` (0 when the pipe is empty for now), and
// `end` once the pipe is empty and its writer has closed it.
struct Spliced {
  size_t bytes = 0;
  bool end = false;
};

// Moves what the pipe holds now, at most `max` bytes, into `file` at `offset`, inside the
// kernel (splice; read and pwrite where the file system cannot splice). Never waits.
Result<Spliced> SpliceFromPipe(int pipe, int file, uint64_t offset, size_t max, const std::string& what);

// A close-on-exec duplicate of `fd`, numbered at least `lowest`.
Result<UniqueFd> DupCloexec(int fd, int lowest = 0);

// A new, read-only open file description of the file behind `fd` (through
// /proc/self/fd): unlike a dup, it cannot write whatever `fd` could, and it has its own
// offset. Works for unnamed (O_TMPFILE) and unlinked files too.
Result<UniqueFd> ReopenReadOnly(int fd);

// A new, read-only open file description of the file behind `fd` whose reads bypass the
// page cache (O_DIRECT). Nothing (nullopt) where the file system has no direct I/O.
Result<std::optional<UniqueFd>> ReopenForDirectReads(int fd);

// A new, write-only open file description of the file behind `fd`: flags its holder
// sets on it (O_APPEND, say) stay its own.
Result<UniqueFd> ReopenWriteOnly(int fd);

// A new, write-only open file description of the file behind `fd` whose writes bypass
// the page cache (O_DIRECT): aligned writes go straight to the disk and leave no page
// cache behind. Nothing (nullopt) where the file system has no direct I/O (EINVAL).
Result<std::optional<UniqueFd>> ReopenForDirectWrites(int fd);

// The names in directory `path` (without . and ..), read through one directory stream
// closed on every path. A name removed while it reads is simply absent: nothing here
// throws, as std::filesystem's iterators do when a directory changes under them.
Result<std::vector<std::string>> ListDirectory(const std::string& path);

// The address of the unix socket at `path`; `what` names it in the error when the path is
// empty or longer than sun_path holds.
Result<sockaddr_un> UnixSocketAddress(const std::string& path, const std::string& what);

// Bytes allocated (st_blocks) under `path`, itself included, symlinks not followed;
// what vanishes while it walks counts nothing.
uint64_t AllocatedBytes(const std::string& path, int max_depth = 16);

}  // namespace banger
