// Shared helpers for every test folder: root requirements, scratch dirs, running code
// as another user in a forked process.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

#include <gtest/gtest.h>

namespace banger::testing {

bool RunningInCi();

// A test that needs root says so: a failure under CI (which runs as root), a skip with
// the reason elsewhere.
#define BANGER_REQUIRE_ROOT()                                                         \
  do {                                                                                \
    if (::geteuid() != 0) {                                                           \
      if (::banger::testing::RunningInCi()) FAIL() << "this test needs root; CI runs as root"; \
      GTEST_SKIP() << "needs root: run the suite as root (scripts/test.sh does)";     \
    }                                                                                 \
  } while (0)

// Lowercase hex of raw bytes (for fixture specs).
std::string Hex(const std::string& bytes);

// A directory removed with its contents when the object goes away.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag = "banger-test");
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Copies `file` into `dir` (mode 0755) so an unprivileged user can execute it wherever
// the build tree lives. Returns the new path.
std::string CopyExecutable(const std::string& file, const std::string& dir);

// Runs `body` in a forked child that first switches to uid/gid 65534 (nobody). The body
// returns "" on success or a description of what went wrong, which is returned here.
std::string RunAsNobody(const std::function<std::string()>& body);

// Output and exit status of a command run through /bin/sh.
struct CommandResult {
  int exit_status = -1;
  std::string output;  // stdout and stderr interleaved
};
CommandResult RunCommand(const std::string& command);

}  // namespace banger::testing
