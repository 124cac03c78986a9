// Shared helpers for every test folder: root requirements, scratch dirs, running code
// as another user in a forked process.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace banger::testing {

// A skip is a failure unless someone asked for skips: BANGER_ALLOW_SKIPS=1 (exactly; the
// Python tests read it the same way, tests/assets/unittest_main.py).
bool SkipsAllowed();

// Ends a test that cannot run here: skipped with BANGER_ALLOW_SKIPS=1, failed otherwise.
#define BANGER_CANNOT_RUN(why)                                                                  \
  do {                                                                                          \
    if (!::banger::testing::SkipsAllowed()) FAIL() << why << " (BANGER_ALLOW_SKIPS=1 skips instead)"; \
    GTEST_SKIP() << why;                                                                        \
  } while (0)

// A test that needs root says so, as a failure (or a skip when skips are allowed).
#define BANGER_REQUIRE_ROOT()                                                          \
  do {                                                                                 \
    if (::geteuid() != 0) BANGER_CANNOT_RUN("needs root: run the suite as root (scripts/test.sh does)"); \
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

// A command started through /bin/sh -c "exec ..." (so pid() is the command itself), its
// stdout and stderr going to a file; killed and reaped when the object goes.
class BackgroundCommand {
 public:
  BackgroundCommand(const std::string& command, const std::string& output_file);
  ~BackgroundCommand();
  BackgroundCommand(const BackgroundCommand&) = delete;
  BackgroundCommand& operator=(const BackgroundCommand&) = delete;
  pid_t pid() const { return pid_; }
  // Exit status (128 + signal when killed), or -1 if it is still running at the deadline.
  int Wait(int timeout_ms);
  std::string Output() const;

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  std::string output_file_;
};

// `env BANGER_STATE_DIR=.. BANGER_CACHE_DIR=.. DOCKER_CONFIG=<cache> [extra] <bin>/banger `:
// the command line for the built banger with a test's own directories (append the arguments).
std::string BangerCommand(const std::string& state_dir, const std::string& cache_dir, const std::string& extra_env = "");

#ifdef BANGER_BIN_DIR
// Where the built executables are (every test binary is compiled with BANGER_BIN_DIR).
inline const std::string kBin = BANGER_BIN_DIR;
#endif

// Whether anything (a dangling symlink too) is at `path`.
bool Exists(const std::string& path);

// The source tree's root (for docs/ and the like).
std::string SourceDir();

// A whole file's text ("" when it cannot be read).
std::string ReadFile(const std::string& path);

// A field of /proc/<pid>/status, without its name and leading blanks ("" when absent).
std::string ProcStatusField(pid_t pid, const std::string& field);

// The helpers a pull held by BANGER_TEST_STALL=FILE listed in FILE: name -> pid.
std::map<std::string, pid_t> StalledHelpers(const std::string& file);

// The last line of `output` parsed as JSON (banger's --json result); null if it is not.
nlohmann::json LastJsonLine(const std::string& output);

// How many pages of [offset, offset + length) of the file behind `fd` the page cache
// holds (mincore over a read-only map); SIZE_MAX when it cannot tell. length 0: to the end.
size_t ResidentPages(int fd, uint64_t offset = 0, uint64_t length = 0);

// Polls `predicate` every 20 ms until it holds or `timeout_ms` passes.
bool WaitFor(const std::function<bool()>& predicate, int timeout_ms);

}  // namespace banger::testing
