// banger's guest files injected as the last layer: chosen by the image's init system,
// owned 0:0 with fixed times, parents made 0755 root, image paths replaced and reported,
// parent symlinks followed inside the image.
#include <gtest/gtest.h>

#include "tests/unpacker/unpack_harness.h"
#include "unpacker/guest_assets.h"

namespace banger::testing {
namespace {

using ipc::EntryKind;
using nlohmann::json;

constexpr int64_t kAssetTime = 1704067200;

// A merged-/usr skeleton with systemd's binary.
std::vector<LayerEntry> SystemdImage() {
  return {LayerEntry::Dir("usr").Mode(0755), LayerEntry::Dir("usr/lib").Mode(0755),
          LayerEntry::Dir("usr/lib/systemd").Mode(0755), LayerEntry::File("usr/lib/systemd/systemd", "ELF"),
          LayerEntry::Symlink("lib", "usr/lib"), LayerEntry::Dir("etc").Mode(0700),
          LayerEntry::Dir("usr/bin").Mode(0755), LayerEntry::File("usr/bin/sh", "shell")};
}

class GuestAssets : public ::testing::Test {
 protected:
  Result<UnpackedTree> Run(std::vector<std::vector<LayerEntry>> layers) {
    std::vector<BuiltLayer> built;
    for (auto& entries : layers) built.push_back(BuildLayer(Layer(std::move(entries)), dir_));
    UnpackOptions options;
    options.guest_assets = true;
    return Unpack(built, options);
  }
  static void ExpectOwnedByBanger(const UnpackedTree& tree, const std::string& path, EntryKind kind, uint32_t mode) {
    const ipc::TreeEntry* e = tree.Find(path);
    ASSERT_NE(e, nullptr) << path;
    EXPECT_EQ(e->kind, kind) << path;
    EXPECT_EQ(e->mode, mode) << path;
    EXPECT_EQ(e->uid, 0u) << path;
    EXPECT_EQ(e->gid, 0u) << path;
    EXPECT_EQ(e->mtime.sec, kAssetTime) << path;
  }
  ScratchDir dir_{"banger-guest-assets"};
};

TEST_F(GuestAssets, SystemdImageGetsUnitsEnabled) {
  auto tree = Run({SystemdImage()});
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_EQ(tree->done["guest"]["init"], "systemd");
  ExpectOwnedByBanger(*tree, "/usr/local/bin/banger-vsock-agent", EntryKind::kRegular, 0755);
  ExpectOwnedByBanger(*tree, "/usr/local/libexec/banger-first-boot", EntryKind::kRegular, 0755);
  ExpectOwnedByBanger(*tree, "/usr/local/libexec/banger-network-bootstrap", EntryKind::kSymlink, 0777);
  EXPECT_EQ(tree->Find("/usr/local/libexec/banger-network-bootstrap")->link_target, "/usr/local/bin/banger-vsock-agent");
  ExpectOwnedByBanger(*tree, "/etc/modules-load.d/banger-vsock.conf", EntryKind::kRegular, 0644);
  ExpectOwnedByBanger(*tree, "/var/lib/banger/first-boot-pending", EntryKind::kRegular, 0644);
  EXPECT_EQ(tree->Find("/var/lib/banger/first-boot-pending")->size, 0u);
  for (const char* unit : {"banger-network.service", "banger-first-boot.service", "banger-vsock-agent.service"}) {
    ExpectOwnedByBanger(*tree, std::string("/etc/systemd/system/") + unit, EntryKind::kRegular, 0644);
    const std::string link = std::string("/etc/systemd/system/multi-user.target.wants/") + unit;
    ExpectOwnedByBanger(*tree, link, EntryKind::kSymlink, 0777);
    EXPECT_EQ(tree->Find(link)->link_target, std::string("/etc/systemd/system/") + unit);
  }
  EXPECT_NE(tree->contents["/usr/local/libexec/banger-first-boot"].find("#!/bin/sh"), std::string::npos);
  EXPECT_NE(tree->contents["/etc/systemd/system/banger-first-boot.service"].find(
                "ConditionPathExists=/var/lib/banger/first-boot-pending"),
            std::string::npos);
  EXPECT_GT(tree->Find("/usr/local/bin/banger-vsock-agent")->size, 100000u) << "the static agent binary";
  // Parents banger made are 0755 root; the image's own /etc keeps its mode.
  for (const char* dir : {"/usr/local", "/usr/local/bin", "/var/lib/banger", "/etc/systemd/system/multi-user.target.wants"}) {
    ExpectOwnedByBanger(*tree, dir, EntryKind::kDirectory, 0755);
  }
  EXPECT_EQ(tree->Find("/etc")->mode, 0700u);
  EXPECT_FALSE(tree->Has("/etc/init.d/banger-network")) << "no OpenRC scripts in a systemd image";
  EXPECT_TRUE(tree->done["guest"]["replaced"].empty());
}

TEST_F(GuestAssets, OpenRcImageGetsScriptsInTheDefaultRunlevel) {
  auto tree = Run({{LayerEntry::Dir("sbin").Mode(0755), LayerEntry::File("sbin/openrc", "ELF"),
                    LayerEntry::Dir("etc").Mode(0755), LayerEntry::Dir("etc/init.d").Mode(0755),
                    LayerEntry::File("etc/init.d/sshd", "x")}});
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_EQ(tree->done["guest"]["init"], "openrc");
  for (const char* script : {"banger-network", "banger-first-boot", "banger-vsock-agent"}) {
    ExpectOwnedByBanger(*tree, std::string("/etc/init.d/") + script, EntryKind::kRegular, 0755);
    EXPECT_EQ(tree->contents[std::string("/etc/init.d/") + script].rfind("#!/sbin/openrc-run", 0), 0u) << script;
    const std::string link = std::string("/etc/runlevels/default/") + script;
    ExpectOwnedByBanger(*tree, link, EntryKind::kSymlink, 0777);
    EXPECT_EQ(tree->Find(link)->link_target, std::string("/etc/init.d/") + script);
  }
  EXPECT_TRUE(tree->Has("/etc/init.d/sshd"));
  EXPECT_FALSE(tree->Has("/etc/systemd/system/banger-network.service"));
}

TEST_F(GuestAssets, NoInitSystemIsAWarningAndNothingEnabled) {
  auto tree = Run({{LayerEntry::Dir("bin").Mode(0755), LayerEntry::File("bin/busybox", "ELF")}});
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_EQ(tree->done["guest"]["init"], "none");
  EXPECT_TRUE(tree->Has("/usr/local/bin/banger-vsock-agent"));
  EXPECT_TRUE(tree->Has("/var/lib/banger/first-boot-pending"));
  EXPECT_FALSE(tree->Has("/etc/systemd/system/banger-network.service"));
  EXPECT_FALSE(tree->Has("/etc/init.d/banger-network"));
  EXPECT_NE(tree->done["warnings"].dump().find("neither systemd nor OpenRC"), std::string::npos) << tree->done.dump();
}

TEST_F(GuestAssets, ImagePathsAreReplacedAndReported) {
  auto image = SystemdImage();
  for (const LayerEntry& e :
       {LayerEntry::Dir("usr/local").Mode(0755), LayerEntry::Dir("usr/local/bin").Mode(0755),
        LayerEntry::Hardlink("usr/local/bin/banger-vsock-agent", "usr/bin/sh"),
        LayerEntry::File("usr/local/libexec", "a file where a directory must be"),
        LayerEntry::Dir("etc/systemd").Mode(0755), LayerEntry::Dir("etc/systemd/system").Mode(0755),
        LayerEntry::Dir("etc/systemd/system/banger-first-boot.service").Mode(0755),
        LayerEntry::File("etc/systemd/system/banger-first-boot.service/inside", "x")}) {
    image.push_back(e);
  }
  auto tree = Run({image});
  ASSERT_TRUE(tree) << tree.error().message;
  const json replaced = tree->done["guest"]["replaced"];
  for (const char* path : {"/usr/local/bin/banger-vsock-agent", "/usr/local/libexec",
                           "/etc/systemd/system/banger-first-boot.service"}) {
    EXPECT_NE(std::find(replaced.begin(), replaced.end(), path), replaced.end()) << path << " in " << replaced.dump();
    EXPECT_NE(tree->done["warnings"].dump().find(std::string(path) + " was replaced by banger's"), std::string::npos);
  }
  // The hardlink was broken, not written through: /usr/bin/sh keeps the image's bytes.
  EXPECT_EQ(tree->contents["/usr/bin/sh"], "shell");
  EXPECT_FALSE(tree->SameInode("/usr/bin/sh", "/usr/local/bin/banger-vsock-agent"));
  ExpectOwnedByBanger(*tree, "/usr/local/libexec", EntryKind::kDirectory, 0755);
  ExpectOwnedByBanger(*tree, "/etc/systemd/system/banger-first-boot.service", EntryKind::kRegular, 0644);
  EXPECT_FALSE(tree->Has("/etc/systemd/system/banger-first-boot.service/inside"));
}

TEST_F(GuestAssets, ParentSymlinksAreFollowedInsideTheImage) {
  // /usr/local -> /opt/local and a later layer's opaque /etc: files land where the
  // image's links point, inside the image.
  auto image = SystemdImage();
  image.push_back(LayerEntry::Dir("opt").Mode(0755));
  image.push_back(LayerEntry::Dir("opt/local").Mode(0750));
  image.push_back(LayerEntry::Symlink("usr/local", "/opt/local"));
  image.push_back(LayerEntry::Symlink("var", "../../srv/var"));
  auto tree = Run({image});
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_EQ(tree->Find("/usr/local")->kind, EntryKind::kSymlink);
  EXPECT_TRUE(tree->Has("/opt/local/bin/banger-vsock-agent"));
  EXPECT_EQ(tree->Find("/opt/local")->mode, 0750u) << "an image directory keeps its mode";
  // /var points at a missing /srv/var: the symlink is dangling, so banger makes a
  // directory in its place (and says so) rather than following it out of nowhere.
  ExpectOwnedByBanger(*tree, "/var", EntryKind::kDirectory, 0755);
  EXPECT_TRUE(tree->Has("/var/lib/banger/first-boot-pending"));
  EXPECT_FALSE(tree->Has("/srv"));
}

// banger-first-boot runs as root: no directory above it may be anyone else's to change,
// through the image's symlinks too (/usr/local -> /opt/local). The image's other
// directories keep what they had.
TEST_F(GuestAssets, ParentsOfRootRunFilesBecomeRootOwnedAndClosed) {
  auto image = SystemdImage();
  image.push_back(LayerEntry::Dir("opt").Mode(01777));
  image.push_back(LayerEntry::Dir("opt/local").Mode(0775).Uid(1000).Gid(1000));
  image.push_back(LayerEntry::Dir("opt/local/libexec").Mode(0777).Uid(1000).Gid(1000));
  image.push_back(LayerEntry::Symlink("usr/local", "/opt/local"));
  image.push_back(LayerEntry::Dir("srv").Mode(0777).Uid(1000));
  auto tree = Run({image});
  ASSERT_TRUE(tree) << tree.error().message;
  for (const auto& [path, mode] : std::vector<std::pair<std::string, uint32_t>>{
           {"/opt", 01755}, {"/opt/local", 0755}, {"/opt/local/libexec", 0755}}) {
    const ipc::TreeEntry* e = tree->Find(path);
    ASSERT_NE(e, nullptr) << path;
    EXPECT_EQ(e->mode, mode) << path;
    EXPECT_EQ(e->uid, 0u) << path;
    EXPECT_EQ(e->gid, 0u) << path;
  }
  EXPECT_EQ(tree->Find("/srv")->mode, 0777u) << "nothing banger runs is below it";
  EXPECT_EQ(tree->Find("/srv")->uid, 1000u);
  const std::string warnings = tree->done["warnings"].dump();
  EXPECT_NE(warnings.find("/opt/local/libexec (was 0777 1000:1000) root-owned"), std::string::npos) << warnings;
}

// A directory that holds only a symlink on the way is on the way too: uid 1000 could swap
// /usr/local/bin -> /opt/bin for a link to its own agent.
// An ACL can grant a user what the mode does not show (its default entries are what new
// entries below inherit): the directories above root-run files lose theirs.
TEST_F(GuestAssets, ParentsOfRootRunFilesLoseTheirPosixAcls) {
  // user::rwx, user:1000:rwx, group::r-x, mask::rwx, other::r-x (the kernel's xattr form)
  const std::string acl("\x02\0\0\0\x01\0\x07\0\xff\xff\xff\xff\x02\0\x07\0\xe8\x03\0\0"
                        "\x04\0\x05\0\xff\xff\xff\xff\x10\0\x07\0\xff\xff\xff\xff\x20\0\x05\0\xff\xff\xff\xff",
                        44);
  auto image = SystemdImage();
  image.push_back(LayerEntry::Dir("usr/local").Mode(0755).Xattr("system.posix_acl_default", acl));
  image.push_back(LayerEntry::Dir("usr/local/libexec").Mode(0755).Xattr("system.posix_acl_access", acl)
                      .Xattr("user.note", "kept"));
  image.push_back(LayerEntry::Dir("srv").Mode(0755).Xattr("system.posix_acl_access", acl));
  auto tree = Run({image});
  ASSERT_TRUE(tree) << tree.error().message;
  for (const char* path : {"/usr/local", "/usr/local/libexec"}) {
    const ipc::TreeEntry* e = tree->Find(path);
    ASSERT_NE(e, nullptr) << path;
    for (const ipc::Xattr& x : e->xattrs) EXPECT_EQ(x.name.rfind("system.posix_acl", 0), std::string::npos) << path;
  }
  ASSERT_EQ(tree->Find("/usr/local/libexec")->xattrs.size(), 1u) << "other attributes stay";
  EXPECT_EQ(tree->Find("/srv")->xattrs.size(), 1u) << "nothing banger runs is below it";
  const std::string warnings = tree->done["warnings"].dump();
  EXPECT_NE(warnings.find("/usr/local/libexec (was 0755 0:0 with a POSIX ACL) root-owned"), std::string::npos)
      << warnings;
}

TEST_F(GuestAssets, ADirectoryHoldingASymlinkOnTheWayIsClosedToo) {
  auto image = SystemdImage();
  image.push_back(LayerEntry::Dir("usr/local").Mode(0775).Uid(1000).Gid(1000));
  image.push_back(LayerEntry::Dir("opt/bin").Mode(0755));
  image.push_back(LayerEntry::Symlink("usr/local/bin", "/opt/bin"));
  auto tree = Run({image});
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_TRUE(tree->Has("/opt/bin/banger-vsock-agent"));
  const ipc::TreeEntry* local = tree->Find("/usr/local");
  ASSERT_NE(local, nullptr);
  EXPECT_EQ(local->mode, 0755u);
  EXPECT_EQ(local->uid, 0u);
  EXPECT_EQ(local->gid, 0u);
}

TEST_F(GuestAssets, SizingCountsTheInjectedFiles) {
  auto with = Run({SystemdImage()});
  ASSERT_TRUE(with) << with.error().message;
  std::vector<BuiltLayer> built{BuildLayer(Layer(SystemdImage()), dir_)};
  auto without = Unpack(built);
  ASSERT_TRUE(without) << without.error().message;
  EXPECT_GT(with->summary.data_bytes, without->summary.data_bytes + 100000);
  EXPECT_GT(with->summary.entries, without->summary.entries + 15);
}

// An ELF header of `machine` and class (2: 64-bit, 1: 32-bit), little-endian.
std::string ElfHeader(uint16_t machine, char elf_class = 2) {
  std::string header = std::string("\x7f" "ELF", 4) + elf_class + '\x01' + '\x01' + std::string(9, '\0');
  header += std::string("\x02\x00", 2);  // ET_EXEC
  header += static_cast<char>(machine & 0xff);
  header += static_cast<char>(machine >> 8);
  return header + std::string(44, '\0');
}

TEST(AgentMachine, TheElfHeaderMustMatchTheImagesArchitecture) {
  using unpacker::CheckAgentRunsOn;
  const Platform amd64{"linux", "amd64", ""}, arm64{"linux", "arm64", ""}, arm{"linux", "arm", "v7"};
  EXPECT_TRUE(CheckAgentRunsOn(ElfHeader(62), amd64));
  EXPECT_TRUE(CheckAgentRunsOn(ElfHeader(183), arm64));
  EXPECT_TRUE(CheckAgentRunsOn(ElfHeader(40, 1), arm));
  auto x86_on_arm = CheckAgentRunsOn(ElfHeader(62), arm64);
  ASSERT_FALSE(x86_on_arm);
  EXPECT_NE(x86_on_arm.error().message.find("and the image is linux/arm64; use --no-guest-assets"), std::string::npos)
      << x86_on_arm.error().message;
  EXPECT_FALSE(CheckAgentRunsOn(ElfHeader(183), amd64));
  EXPECT_FALSE(CheckAgentRunsOn(ElfHeader(62, 1), amd64)) << "a 32-bit class with the x86-64 machine";
  EXPECT_FALSE(CheckAgentRunsOn(ElfHeader(62), Platform{"windows", "amd64", ""}));
  EXPECT_FALSE(CheckAgentRunsOn(ElfHeader(62), Platform{"linux", "mips64le", ""})) << "an architecture it does not know";
  EXPECT_FALSE(CheckAgentRunsOn("#!/bin/sh\n", amd64)) << "not an ELF";
}

// The unpacker reads the architecture from the image config and refuses to inject the
// agent it carries into an image it cannot run in.
TEST_F(GuestAssets, AnImageOfAnotherArchitectureGetsNoForeignAgent) {
  std::vector<BuiltLayer> built = {BuildLayer(Layer(SystemdImage()), dir_)};
  UnpackOptions options;
  options.guest_assets = true;
  options.architecture = "arm64";
  auto refused = Unpack(built, options);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("banger's guest agent is built for linux/amd64 only, and the image is "
                                         "linux/arm64; use --no-guest-assets"),
            std::string::npos)
      << refused.error().message;
  options.guest_assets = false;
  auto plain = Unpack(built, options);
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_FALSE(plain->Has("/usr/local/bin/banger-vsock-agent"));
}

}  // namespace
}  // namespace banger::testing
