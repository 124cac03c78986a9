// A curious local user sees nothing of what banger keeps: a pull (not only `system
// install`) makes the cache and state directories 0700 and every blob, image and record
// 0600, and an older cache left 0755 is closed on the next pull. Before, blobs were 0644
// in 0755 directories: any local user read /etc/shadow out of a pulled image.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "tests/adversary/stand_in.h"
#include "tests/support/registry_fixture.h"

namespace banger::testing {
namespace {

TEST(LocalUser, ReadsNothingAPullKeeps) {
  BANGER_REQUIRE_ROOT();
  auto registry = TestRegistry::Start();
  ASSERT_TRUE(registry);
  ASSERT_FALSE(registry->Push("demo/app", "v1", {"--layers", "2"}).is_null());
  ScratchDir parent("banger-local");  // 0755 above banger's directories, as /var/lib is
  ASSERT_EQ(::chmod(parent.path().c_str(), 0755), 0);
  const std::string cache = parent.path() + "/cache", state = parent.path() + "/state";
  // An older banger's cache: world-readable directories.
  ASSERT_EQ(RunCommand("mkdir -p " + cache + "/oci/blobs/sha256 && chmod -R 0755 " + cache).exit_status, 0);

  CommandResult pull = BangerIn(BANGER_BIN_DIR, state, cache, "image pull -q " + registry->host() + "/demo/app:v1");
  ASSERT_EQ(pull.exit_status, 0) << pull.output;
  // The roots are closed (the older cache's too); every file the pull made is 0600.
  EXPECT_EQ(RunCommand("stat -c %a " + cache + "/oci " + state + "/images").output, "700\n700\n");
  CommandResult files = RunCommand("find " + cache + "/oci " + state + "/images -type f -printf '%m %p\\n'");
  EXPECT_NE(files.output, "");
  for (size_t at = 0, end; (end = files.output.find('\n', at)) != std::string::npos; at = end + 1) {
    EXPECT_EQ(files.output.substr(at, 4), "600 ") << files.output.substr(at, end - at);
  }
  // As nobody: not one file under either directory opens.
  const std::string opened = RunAsNobody([&]() -> std::string {
    for (const char* path : {"/oci/blobs/sha256", "/oci/plans", "/oci/unpacked"}) {
      if (::access((cache + path).c_str(), R_OK | X_OK) == 0) return std::string("nobody enters ") + path;
    }
    if (::access((state + "/images").c_str(), X_OK) == 0) return "nobody enters the images directory";
    return "";
  });
  EXPECT_EQ(opened, "");
}

// As root, banger refuses a directory from the environment that someone else could have
// changed (sshd's StrictModes): owned by another uid, group- or world-writable, or reached
// through a symlink to one. A sticky TMPDIR (/tmp) is fine. Before, root trusted them all,
// and temp files there followed a planted symlink.
TEST(LocalUser, RootRefusesDirectoriesAnotherUserCouldChange) {
  BANGER_REQUIRE_ROOT();
  ScratchDir scratch("banger-strict");
  const std::string base = scratch.path();
  ASSERT_EQ(RunCommand("mkdir " + base + "/theirs " + base + "/open " + base + "/mine && chown 65534 " + base +
                       "/theirs && chmod 0777 " + base + "/open && ln -s " + base + "/theirs " + base + "/link && " +
                       // root's link to nobody's link to root's own directory: nobody may repoint the middle.
                       "ln -s " + base + "/mine " + base + "/theirs/hop && ln -s " + base + "/theirs/hop " + base +
                       "/chain")
                .exit_status,
            0);
  const std::string unmade = "/tmp/banger-not-there-" + std::to_string(::getpid());
  auto banger = [&](const std::string& env) {
    return RunCommand("env BANGER_STATE_DIR=" + base + "/mine/state BANGER_CACHE_DIR=" + base + "/mine/cache " + env +
                      " " BANGER_BIN_DIR "/banger image list 2>&1");
  };
  const struct {
    std::string env, says;
  } refused[] = {
      {"BANGER_CACHE_DIR=" + base + "/theirs/cache", base + "/theirs is owned by uid 65534"},
      {"BANGER_STATE_DIR=" + base + "/open/state", base + "/open is writable by group or others (mode 0777)"},
      {"DOCKER_CONFIG=" + base + "/open", base + "/open is writable by group or others (mode 0777)"},
      {"BANGER_STATE_DIR=" + base + "/link/state", base + "/theirs is owned by uid 65534"},
      {"TMPDIR=" + base + "/open", base + "/open is writable by group or others"},
      {"BANGER_CONFIG=" + base + "/theirs/config", base + "/theirs is owned by uid 65534"},
      {"BANGER_STATE_DIR=" + base + "/chain/state", base + "/theirs is owned by uid 65534"},
      {"BANGER_CACHE_DIR=" + unmade, unmade + " does not exist and /tmp is writable by others"},
      // Root's own docker config when DOCKER_CONFIG is unset: a HOME another user owns
      // would let them name the credential helper root runs.
      {"DOCKER_CONFIG= HOME=" + base + "/theirs", base + "/theirs is owned by uid 65534"},
  };
  for (const auto& r : refused) {
    SCOPED_TRACE(r.env);
    CommandResult run = banger(r.env);
    EXPECT_EQ(run.exit_status, 1) << run.output;
    const std::string named = r.env.substr(r.env.rfind(' ') == std::string::npos ? 0 : r.env.rfind(' ') + 1);
    EXPECT_NE(run.output.find("refusing " + named.substr(0, named.find('=')) + "="), std::string::npos) << run.output;
    EXPECT_NE(run.output.find(r.says), std::string::npos) << run.output;
  }
  for (const std::string& fine : {std::string("TMPDIR=/tmp"), "DOCKER_CONFIG=" + base + "/mine/docker"}) {
    CommandResult run = banger(fine);
    EXPECT_EQ(run.exit_status, 0) << fine << ": " << run.output;
  }
  // A flag and the config's own paths are held to the same rule.
  CommandResult flag = RunCommand("env BANGER_STATE_DIR=" + base + "/mine/state BANGER_CACHE_DIR=" + base +
                                  "/mine/cache " BANGER_BIN_DIR "/banger image catalog --catalog " + base +
                                  "/open/catalog.json 2>&1");
  EXPECT_EQ(flag.exit_status, 1) << flag.output;
  EXPECT_NE(flag.output.find("refusing --catalog=" + base + "/open/catalog.json: " + base + "/open is writable"),
            std::string::npos)
      << flag.output;
  std::ofstream(base + "/mine/config") << "cache_dir = " << base << "/theirs/cache\n";
  CommandResult config = banger("BANGER_CONFIG=" + base + "/mine/config BANGER_CACHE_DIR=");
  EXPECT_EQ(config.exit_status, 1) << config.output;
  EXPECT_NE(config.output.find("refusing " + base + "/mine/config: cache_dir=" + base + "/theirs/cache"),
            std::string::npos)
      << config.output;
}

}  // namespace
}  // namespace banger::testing
