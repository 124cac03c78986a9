#include "assets/agent/common.h"

#include <fcntl.h>

#include <cerrno>
#include <cstring>

namespace banger::agent {
namespace {

std::string& Name() {
  static std::string name = "banger-vsock-agent";
  return name;
}

void EmitLine(int fd, std::string_view infix, std::string_view message) {
  std::string line = Name();
  line += ": ";
  line += infix;
  line += message;
  line += '\n';
  WriteAll(fd, line);
}

}  // namespace

void SetProgramName(std::string_view name) { Name() = std::string(name); }
const std::string& ProgramName() { return Name(); }

void LogLine(std::string_view message) { EmitLine(STDERR_FILENO, "", message); }
void LogError(std::string_view message) { EmitLine(STDERR_FILENO, "error: ", message); }
void Say(std::string_view message) { EmitLine(STDOUT_FILENO, "", message); }

std::string ErrnoText(int err) {
  const char* text = ::strerrordesc_np(err);
  if (text != nullptr) return text;
  return "errno " + std::to_string(err);
}

bool WriteAll(int fd, std::string_view data) { return banger::WriteAll(fd, data, "writing").ok(); }

std::optional<std::string> ReadSmallFile(const std::string& path, size_t limit, int* err) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) {
    *err = errno;
    return std::nullopt;
  }
  std::string content;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      *err = errno;
      return std::nullopt;
    }
    if (n == 0) break;
    content.append(buffer, static_cast<size_t>(n));
    if (content.size() > limit) {
      *err = EFBIG;
      return std::nullopt;
    }
  }
  return content;
}

}  // namespace banger::agent
