#include "ipc/fd.h"

#include <unistd.h>

namespace banger {

void UniqueFd::reset(int fd) {
  // close() may fail with EINTR, but on Linux the descriptor is gone either way: never retry.
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

}  // namespace banger
