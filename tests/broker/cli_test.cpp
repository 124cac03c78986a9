// The banger executable as a user meets it: --help, usage errors, and `system status`
// from the build tree, from an installed tree, and as a non-root user.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "tests/support/test_support.h"

namespace banger::testing {
namespace {

const std::string kBin = BANGER_BIN_DIR;

TEST(Cli, HelpTellsWhatExists) {
  CommandResult r = RunCommand(kBin + "/banger --help");
  EXPECT_EQ(r.exit_status, 0);
  EXPECT_NE(r.output.find("system status"), std::string::npos);
  EXPECT_NE(r.output.find("exit status"), std::string::npos);
}

TEST(Cli, VersionPrintsOneLine) {
  CommandResult r = RunCommand(kBin + "/banger --version");
  EXPECT_EQ(r.exit_status, 0);
  EXPECT_EQ(r.output.rfind("banger ", 0), 0u);
}

TEST(Cli, UnknownCommandIsAUsageError) {
  CommandResult r = RunCommand(kBin + "/banger frobnicate");
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_NE(r.output.find("banger: error: unknown command 'frobnicate'"), std::string::npos) << r.output;
  EXPECT_EQ(RunCommand(kBin + "/banger").exit_status, 2);
}

void ExpectAllHelpersConfined(const CommandResult& r) {
  EXPECT_EQ(r.exit_status, 0) << r.output;
  EXPECT_NE(r.output.find("sandbox: ok"), std::string::npos) << r.output;
  for (const char* helper : {"banger-fetcher", "banger-unpacker", "banger-imager"}) {
    EXPECT_NE(r.output.find(std::string(helper) + " "), std::string::npos) << helper;
  }
  size_t confined = 0;
  for (size_t at = r.output.find("confined"); at != std::string::npos; at = r.output.find("confined", at + 1)) {
    ++confined;
  }
  EXPECT_EQ(confined, 3u) << r.output;
}

TEST(Cli, SystemStatusFromTheBuildTree) { ExpectAllHelpersConfined(RunCommand(kBin + "/banger system status")); }

TEST(Cli, SystemStatusFromAnInstalledTree) {
  ScratchDir prefix("banger-install");
  CommandResult install =
      RunCommand("cmake --install " + std::string(BANGER_BUILD_DIR) + " --prefix " + prefix.path());
  ASSERT_EQ(install.exit_status, 0) << install.output;
  ASSERT_EQ(::access((prefix.path() + "/libexec/banger/banger-unpacker").c_str(), X_OK), 0);
  ASSERT_NE(::access((prefix.path() + "/bin/banger-unpacker").c_str(), F_OK), 0)
      << "helpers belong in libexec, not on PATH";
  ExpectAllHelpersConfined(RunCommand(prefix.path() + "/bin/banger system status"));
}

TEST(Cli, SystemStatusAsNonRootUsesAUserNamespace) {
  BANGER_REQUIRE_ROOT();
  ScratchDir dir("banger-nobody");
  for (const char* name : {"banger", "banger-fetcher", "banger-unpacker", "banger-imager"}) {
    CopyExecutable(kBin + "/" + name, dir.path());
  }
  std::string failure = RunAsNobody([&] {
    CommandResult r = RunCommand(dir.path() + "/banger system status");
    if (r.exit_status != 0 || r.output.find("sandbox: ok") == std::string::npos ||
        r.output.find("user namespace") == std::string::npos) {
      return "exit " + std::to_string(r.exit_status) + ": " + r.output;
    }
    return std::string();
  });
  EXPECT_EQ(failure, "");
}

TEST(Cli, MissingHelperIsNamed) {
  ScratchDir dir("banger-partial");
  CopyExecutable(kBin + "/banger", dir.path());
  CommandResult r = RunCommand(dir.path() + "/banger system status");
  EXPECT_EQ(r.exit_status, 3);
  EXPECT_NE(r.output.find("helper banger-fetcher not found"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace banger::testing
