// UniqueFd owns one file descriptor and closes it exactly once.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "ipc/result.h"

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

}  // namespace banger
