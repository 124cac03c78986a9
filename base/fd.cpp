#include "base/fd.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace banger {

void UniqueFd::reset(int fd) {
  // close() may fail with EINTR, but on Linux the descriptor is gone either way: never retry.
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Result<std::string> ReadWholeFd(int fd, uint64_t limit, const std::string& what) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Error::FromErrno("stat " + what);
  if (static_cast<uint64_t>(st.st_size) > limit) {
    return Error{ErrorCode::kOversized, what + " is larger than " + std::to_string(limit) + " bytes"};
  }
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  for (size_t done = 0; done < bytes.size();) {
    ssize_t n = ::pread(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
    if (n <= 0) return Error::FromErrno("reading " + what);
    done += static_cast<size_t>(n);
  }
  return bytes;
}

Result<std::string> ReadSmallFile(const std::string& path, uint64_t limit) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) return Error::FromErrno("opening " + path);
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::FromErrno("reading " + path);
    if (n == 0) return text;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > limit) {
      return Error{ErrorCode::kOversized, path + " is larger than " + std::to_string(limit) + " bytes"};
    }
  }
}

Result<void> WriteAll(int fd, std::string_view bytes, const std::string& what) {
  for (size_t done = 0; done < bytes.size();) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::FromErrno(what);
    if (n == 0) return Error{ErrorCode::kIo, what + ": the write made no progress"};
    done += static_cast<size_t>(n);
  }
  return {};
}

Result<void> PwriteAll(int fd, std::string_view bytes, uint64_t offset, const std::string& what) {
  for (size_t done = 0; done < bytes.size();) {
    const ssize_t n = ::pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::FromErrno(what);
    if (n == 0) return Error{ErrorCode::kIo, what + ": the write made no progress"};
    done += static_cast<size_t>(n);
  }
  return {};
}

Result<Pipe> CreatePipe(size_t capacity, bool nonblocking_read) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Error::FromErrno("pipe2");
  Pipe pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
  if (capacity > 0) (void)::fcntl(pipe.write.get(), F_SETPIPE_SZ, static_cast<int>(capacity));
  if (nonblocking_read && ::fcntl(pipe.read.get(), F_SETFL, O_NONBLOCK) != 0) {
    return Error::FromErrno("fcntl(F_SETFL, O_NONBLOCK) of a pipe");
  }
  return pipe;
}

namespace {

// SpliceFromPipe where the file system has no splice_write: one read, one pwrite.
Result<Spliced> CopyFromPipe(int pipe, int file, uint64_t offset, size_t max, const std::string& what) {
  char buffer[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(pipe, buffer, std::min(max, sizeof buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return Spliced{};
    if (n < 0) return Error::FromErrno(what + " (read from a pipe)");
    if (n == 0) return Spliced{0, true};
    BANGER_TRY(PwriteAll(file, std::string_view(buffer, static_cast<size_t>(n)), offset, what));
    return Spliced{static_cast<size_t>(n), false};
  }
}

}  // namespace

Result<Spliced> SpliceFromPipe(int pipe, int file, uint64_t offset, size_t max, const std::string& what) {
  if (max == 0) return Spliced{};
  for (;;) {
    loff_t at = static_cast<loff_t>(offset);
    const ssize_t n = ::splice(pipe, nullptr, file, &at, max, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return Spliced{};
    if (n < 0 && errno == EINVAL) return CopyFromPipe(pipe, file, offset, max, what);
    if (n < 0) return Error::FromErrno(what + " (splice)");
    return Spliced{static_cast<size_t>(n), n == 0};
  }
}

Result<UniqueFd> DupCloexec(int fd, int lowest) {
  UniqueFd copy(::fcntl(fd, F_DUPFD_CLOEXEC, lowest));
  if (!copy) return Error::FromErrno("fcntl(F_DUPFD_CLOEXEC) of fd " + std::to_string(fd));
  return copy;
}

namespace {

// open(2) of /proc/self/fd/N, a new open file description; `err` is its errno.
UniqueFd OpenAgain(int fd, int flags, int& err) {
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  UniqueFd reopened(::open(path.c_str(), flags | O_CLOEXEC));
  err = reopened ? 0 : errno;
  return reopened;
}

Error ReopenFailed(int fd, const char* how, int err) {
  return Error::FromErrno("reopening fd " + std::to_string(fd) + " " + how + " (open /proc/self/fd/" +
                              std::to_string(fd) + ")",
                          err);
}

// A reopen the caller cannot do without.
Result<UniqueFd> Reopen(int fd, int flags, const char* how) {
  int err = 0;
  UniqueFd reopened = OpenAgain(fd, flags, err);
  if (!reopened) return ReopenFailed(fd, how, err);
  return reopened;
}

// An O_DIRECT reopen: nothing where the file system has no direct I/O (EINVAL).
Result<std::optional<UniqueFd>> ReopenDirect(int fd, int access, const char* how) {
  int err = 0;
  UniqueFd reopened = OpenAgain(fd, access | O_DIRECT, err);
  if (reopened) return std::optional<UniqueFd>(std::move(reopened));
  if (err == EINVAL) return std::optional<UniqueFd>();
  return ReopenFailed(fd, how, err);
}

}  // namespace

Result<UniqueFd> ReopenReadOnly(int fd) { return Reopen(fd, O_RDONLY, "read-only"); }

Result<UniqueFd> ReopenWriteOnly(int fd) { return Reopen(fd, O_WRONLY, "write-only"); }

Result<std::optional<UniqueFd>> ReopenForDirectReads(int fd) { return ReopenDirect(fd, O_RDONLY, "for direct reads"); }

Result<std::optional<UniqueFd>> ReopenForDirectWrites(int fd) { return ReopenDirect(fd, O_WRONLY, "for direct writes"); }

Result<std::vector<std::string>> ListDirectory(const std::string& path) {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(path.c_str()), ::closedir);
  if (!dir) return Error::FromErrno("opening directory " + path);
  std::vector<std::string> names;
  while (const dirent* entry = ::readdir(dir.get())) {
    const std::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  return names;
}

uint64_t AllocatedBytes(const std::string& path, int max_depth) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return 0;
  uint64_t total = static_cast<uint64_t>(st.st_blocks) * 512;
  if (!S_ISDIR(st.st_mode) || max_depth <= 0) return total;
  auto names = ListDirectory(path);
  if (!names) return total;
  for (const std::string& name : *names) total += AllocatedBytes(path + "/" + name, max_depth - 1);
  return total;
}

Result<sockaddr_un> UnixSocketAddress(const std::string& path, const std::string& what) {
  sockaddr_un address{};
  if (path.empty() || path.size() >= sizeof address.sun_path) {
    return Error{ErrorCode::kInvalidArgument, what + " path '" + path + "' is empty or too long"};
  }
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  return address;
}

}  // namespace banger
