// A full disk names its place: ENOSPC while writing the state directory (the image, where
// the unpacker writes file data too), the cache or the scratch directory (the tree
// stream) says which directory filled and what was being written, and leaves nothing
// half-written behind. Each directory in turn is a small tmpfs the image does
// not fit (tmpfs never returns EIO, so that class is not injected here).
#include <sys/mount.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/registry_fixture.h"

namespace banger::testing {
namespace {

class DiskFull : public ::testing::Test {
 protected:
  void SetUp() override {
    BANGER_REQUIRE_ROOT();
    registry_ = TestRegistry::Start();
    ASSERT_TRUE(registry_);
    // 40 MB of random bytes: no compression makes them fit 24 MiB.
    ASSERT_FALSE(registry_->Push("demo/big", "v1", {"--layers", "1", "--layer-bytes", "40000000"}).is_null());
  }
  void TearDown() override {
    for (const std::string& dir : mounted_) ::umount2(dir.c_str(), MNT_DETACH);
  }
  // Makes `dir` a 24 MiB tmpfs.
  void Shrink(const std::string& dir) {
    ASSERT_EQ(::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=24m,mode=0755"), 0) << dir << ": " << std::strerror(errno);
    mounted_.push_back(dir);
  }
  CommandResult Pull(const std::string& extra_env = "") {
    return RunCommand("env TMPDIR=" + tmp_.path() + " " + extra_env + BangerCommand(state_.path(), cache_.path()) +
                      "image pull -q " + registry_->host() + "/demo/big:v1");
  }
  std::string Left(const std::string& dir) { return RunCommand("ls -A " + dir).output; }
  uint64_t UsedKib(const std::string& dir) {
    return std::stoull(RunCommand("df -k --output=used " + dir + " | tail -1").output);
  }
  void ExpectOneLine(const CommandResult& pull, const std::string& start, const std::string& what) {
    EXPECT_EQ(pull.exit_status, 1) << pull.output;
    EXPECT_EQ(pull.output.rfind("banger: error: " + start, 0), 0u) << pull.output;
    EXPECT_NE(pull.output.find(" while writing " + what), std::string::npos) << pull.output;
    EXPECT_EQ(pull.output.find('\n'), pull.output.size() - 1) << "one line: " << pull.output;
  }

  std::unique_ptr<TestRegistry> registry_;
  ScratchDir state_{"banger-state"}, cache_{"banger-cache"}, tmp_{"banger-tmp"};
  std::vector<std::string> mounted_;
};

TEST_F(DiskFull, TheStateDirectoryNamesItselfAndTheRootfs) {
  Shrink(state_.path());
  CommandResult pull = Pull();
  ExpectOneLine(pull, "no space left in " + state_.path() + "/images while writing rootfs.ext4", "rootfs.ext4");
  EXPECT_EQ(Left(state_.path() + "/images"), "") << "no staging directory, no image";
  EXPECT_LT(UsedKib(state_.path()), 256u) << "the half-written rootfs.ext4 went with its staging directory";
  EXPECT_EQ(RunCommand(BangerCommand(state_.path(), cache_.path()) + "image list --json").output, "[]\n");
}

TEST_F(DiskFull, TheCacheDirectoryNamesItself) {
  Shrink(cache_.path());
  CommandResult pull = Pull();
  ExpectOneLine(pull, "no space left in " + cache_.path() + "/oci/", "");
  EXPECT_LT(UsedKib(cache_.path()), 256u) << "no partial blob or tree is left: " << RunCommand("du -a " + cache_.path()).output;
  const std::string blobs = cache_.path() + "/oci/blobs/sha256";
  CommandResult check = RunCommand("cd " + blobs + " && for f in *; do [ -e \"$f\" ] || continue; "
                                   "[ \"$(sha256sum < \"$f\" | cut -c1-64)\" = \"$f\" ] || echo \"bad $f\"; done");
  EXPECT_EQ(check.output, "") << "every cached blob matches its name";
  EXPECT_EQ(Left(state_.path() + "/images"), "");
}

TEST_F(DiskFull, TheScratchDirectoryNamesItselfAndTheTree) {
  // A cache that cannot hold the unnamed tree stream sends it to $TMPDIR/banger-pull-*;
  // 120 layers of two files each make a tree larger than a 16 KiB scratch.
  ASSERT_FALSE(registry_->Push("demo/wide", "v1", {"--layers", "120", "--layer-bytes", "100"}).is_null());
  ASSERT_EQ(RunCommand("mkdir -p " + cache_.path() + "/oci && touch " + cache_.path() + "/oci/unpacked").exit_status, 0);
  ASSERT_EQ(::mount("tmpfs", tmp_.path().c_str(), "tmpfs", 0, "size=16k,mode=0755"), 0) << std::strerror(errno);
  mounted_.push_back(tmp_.path());
  CommandResult pull = RunCommand("env TMPDIR=" + tmp_.path() + " " + BangerCommand(state_.path(), cache_.path()) +
                                  "image pull -q " + registry_->host() + "/demo/wide:v1");
  ExpectOneLine(pull, "no space left in " + tmp_.path() + "/banger-pull-", "the unpacked layers' tree");
  EXPECT_EQ(Left(tmp_.path()), "") << "the scratch directory went";
  EXPECT_EQ(Left(state_.path() + "/images"), "");
}

}  // namespace
}  // namespace banger::testing
