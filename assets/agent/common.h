// Shared pieces of banger-vsock-agent: an owning fd, one-line logging, small file I/O.
// Self-contained on purpose: the agent is a static guest binary and links nothing else
// from the project (docs/guest.md).
#pragma once

#include <unistd.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace banger::agent {

// Closes the descriptor it owns.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// The name messages start with: "banger-vsock-agent" or "banger-network-bootstrap".
void SetProgramName(std::string_view name);
const std::string& ProgramName();

// "<program>: <message>" on stderr, in one write (safe under the agent's seccomp filter).
void LogLine(std::string_view message);
// "<program>: error: <message>" on stderr.
void LogError(std::string_view message);
// "<program>: <message>" on stdout (the bootstrap's per-action lines).
void Say(std::string_view message);

// The errno description, untranslated (strerrordesc_np: no locale files, no gettext).
std::string ErrnoText(int err);

// Writes all of `data`, retrying on EINTR and short writes.
bool WriteAll(int fd, std::string_view data);

// Reads a whole small file (at most `limit` bytes; longer is an error, EFBIG).
// On failure returns nullopt with `*err` set to the errno.
std::optional<std::string> ReadSmallFile(const std::string& path, size_t limit, int* err);

}  // namespace banger::agent
