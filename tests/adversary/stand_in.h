// banger and its helpers copied into a directory of their own, one helper replaced by a
// stand-in for a compromised one: the broker starts it exactly as it would the real one,
// and it passes the same lockdown checks before it misbehaves.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "tests/support/test_support.h"

namespace banger::testing {

class StandInInstall {
 public:
  // `helper` (banger-fetcher, banger-unpacker or banger-imager) is `stand_in`.
  StandInInstall(const std::string& helper, const std::string& stand_in) {
    for (const char* file : {"banger", "banger-fetcher", "banger-unpacker", "banger-imager"}) {
      CopyExecutable(std::string(BANGER_BIN_DIR) + "/" + file, bin_.path());
    }
    const std::string replaced = bin_.path() + "/" + helper;
    EXPECT_EQ(::unlink(replaced.c_str()), 0);
    EXPECT_EQ(::rename(CopyExecutable(stand_in, bin_.path()).c_str(), replaced.c_str()), 0);
  }
  const std::string& dir() const { return bin_.path(); }
  std::string helper_path(const std::string& helper) const { return bin_.path() + "/" + helper; }

 private:
  ScratchDir bin_{"banger-bin"};
};

// `banger ARGS` from `bin_dir` with its own state and cache directories, stdout and
// stderr together; `env` adds VAR=value words to its environment.
inline CommandResult BangerIn(const std::string& bin_dir, const std::string& state, const std::string& cache,
                              const std::string& args, const std::string& env = "") {
  return RunCommand("env BANGER_STATE_DIR=" + state + " BANGER_CACHE_DIR=" + cache + " DOCKER_CONFIG=" + cache + " " +
                    env + " " + bin_dir + "/banger " + args + " 2>&1");
}

}  // namespace banger::testing
