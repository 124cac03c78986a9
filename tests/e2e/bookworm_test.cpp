// A real Debian bookworm (mmdebstrap minbase + systemd, udev, iproute2), split into
// three layers with whiteouts and an opaque directory, pushed with skopeo and pulled
// with banger: the ext4 must hold the same tree as the peer pipeline makes from the same
// image (skopeo copy -> umoci unpack -> mkfs.ext4 -d), apart from banger's guest files.
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/imager/image_harness.h"
#include "tests/support/debian_rootfs.h"
#include "tests/support/registry_fixture.h"

namespace banger::testing {
namespace {

using nlohmann::json;

bool UnderOrAbove(const std::string& path, const std::string& injected) {
  if (path == injected) return true;
  if (path == "/") return true;
  return injected.rfind(path + "/", 0) == 0 || path.rfind(injected + "/", 0) == 0;
}

class Bookworm : public ::testing::Test {
 protected:
  void SetUp() override {
    BANGER_REQUIRE_ROOT();
    layout_ = DebianImageLayout(BookwormSystemd(), 3);
    ASSERT_FALSE(layout_.empty());
    registry_ = TestRegistry::Start();
    ASSERT_TRUE(registry_);
    ASSERT_TRUE(registry_->PushLayout(layout_, "image", "debian/bookworm", "split3"));
  }
  std::string Ref() const { return registry_->host() + "/debian/bookworm:split3"; }
  json Pull(const ScratchDir& state, const ScratchDir* cache = nullptr) {
    CommandResult pull = RunCommand(BangerCommand(state.path(), (cache != nullptr ? *cache : cache_).path()) +
                                    "image pull --json " + Ref() + " 2>&1");
    EXPECT_EQ(pull.exit_status, 0) << pull.output;
    if (pull.exit_status != 0) return nullptr;
    return LastJsonLine(pull.output);
  }

  std::string layout_;
  std::unique_ptr<TestRegistry> registry_;
  ScratchDir cache_{"banger-cache"};
  ScratchDir work_{"banger-bookworm"};
};

TEST_F(Bookworm, SameTreeAsSkopeoUmociAndMkfs) {
  ScratchDir state("banger-state");
  json record = Pull(state);
  ASSERT_FALSE(record.is_null());
  const std::string rootfs = record["rootfs"];
  CommandResult fsck = Fsck(rootfs);
  EXPECT_EQ(fsck.exit_status, 0) << fsck.output;
  EXPECT_EQ(record["guest"]["init"], "systemd");

  // The peer pipeline, as root so umoci keeps owners.
  const std::string w = work_.path();
  CommandResult peer = RunCommand(
      "set -e; skopeo copy --quiet --src-tls-verify=false docker://" + Ref() + " oci:" + w + "/oci:image 2>&1; " +
      "umoci unpack --image " + w + "/oci:image " + w + "/bundle 2>&1; " +
      "truncate -s 3G " + w + "/peer.ext4; mkfs.ext4 -q -F -d " + w + "/bundle/rootfs " + w + "/peer.ext4 2>&1");
  ASSERT_EQ(peer.exit_status, 0) << peer.output;

  json ours = DumpTree(rootfs);
  json theirs = DumpTree(w + "/peer.ext4");
  ASSERT_GT(theirs.size(), 5000u) << "a real Debian tree";
  std::vector<std::string> injected = record["guest"]["injected"];
  ASSERT_FALSE(injected.empty());
  size_t compared = 0;
  for (auto& [path, entry] : theirs.items()) {
    ASSERT_TRUE(ours.contains(path)) << path << " is missing from banger's image";
    bool replaced_by_banger = false;
    for (const auto& i : injected) replaced_by_banger |= path == i;
    if (replaced_by_banger) continue;
    // A directory banger put files into keeps everything but what the files change.
    EXPECT_EQ(ours[path], entry) << path;
    ++compared;
  }
  for (auto& [path, entry] : ours.items()) {
    if (theirs.contains(path)) continue;
    bool banger_made = false;
    for (const auto& i : injected) banger_made |= UnderOrAbove(path, i);
    EXPECT_TRUE(banger_made) << path << " is only in banger's image and is not one of its guest files";
  }
  EXPECT_EQ(compared, theirs.size()) << "nothing of the image was replaced";

  // The layer semantics, asserted directly as well (both pipelines could agree and be wrong).
  EXPECT_TRUE(ours.contains("/usr/share/doc/README.banger"));
  size_t docs = 0;
  for (auto& [path, entry] : ours.items()) docs += path.rfind("/usr/share/doc/", 0) == 0;
  EXPECT_EQ(docs, 1u) << "the opaque marker hides every lower /usr/share/doc entry";
  EXPECT_FALSE(ours.contains("/var/cache/banger-junk")) << "a whited-out directory";
  EXPECT_FALSE(ours.contains("/etc/banger-motd")) << "a whited-out file";
  EXPECT_EQ(ours["/etc/banger-became-dir"]["type"], "dir");
  EXPECT_EQ(ours["/etc/banger-became-dir"]["mode"], "0o750");
  EXPECT_TRUE(ours.contains("/etc/banger-became-dir/inside"));
  EXPECT_EQ(ours["/usr/bin/passwd"]["mode"], "0o4755") << "setuid survives";
  EXPECT_EQ(ours["/etc/systemd/system/multi-user.target.wants/banger-network.service"]["target"],
            "/etc/systemd/system/banger-network.service");
}

TEST_F(Bookworm, TwoStateDirsGetTheSameBytes) {
  // Separate caches too, so that the second pull unpacks again rather than reusing the
  // first one's unpacked image.
  ScratchDir first("banger-state-1"), second("banger-state-2"), second_cache("banger-cache-2");
  json a = Pull(first), b = Pull(second, &second_cache);
  ASSERT_FALSE(a.is_null());
  ASSERT_FALSE(b.is_null());
  CommandResult sums = RunCommand("sha256sum " + a["rootfs"].get<std::string>() + " " +
                                  b["rootfs"].get<std::string>() + " | cut -d' ' -f1 | uniq | wc -l");
  EXPECT_EQ(sums.output, "1\n") << "rootfs.ext4 is byte-identical across state directories";
}

}  // namespace
}  // namespace banger::testing
