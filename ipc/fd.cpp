#include "ipc/fd.h"

#include <sys/stat.h>
#include <unistd.h>

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

}  // namespace banger
