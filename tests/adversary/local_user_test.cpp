// A curious local user sees nothing of what banger keeps: a pull (not only `system
// install`) makes the cache and state directories 0700 and every blob, image and record
// 0600, and an older cache left 0755 is closed on the next pull. Before, blobs were 0644
// in 0755 directories: any local user read /etc/shadow out of a pulled image.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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

}  // namespace
}  // namespace banger::testing
