// The imager end to end: layers replayed by the sandboxed unpacker, streamed to the
// sandboxed imager, the ext4 checked by e2fsck -fn and compared, file by file, through a
// read-only loop mount.
#include <sys/stat.h>

#include <fstream>

#include <gtest/gtest.h>

#include "tests/imager/image_harness.h"

namespace banger::testing {
namespace {

using nlohmann::json;

std::string Hex(const std::string& bytes) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

std::string Sha256Hex(const std::string& text) {
  CommandResult r = RunCommand("printf %s '" + text + "' | sha256sum");
  return r.output.substr(0, 64);
}

class Image : public ::testing::Test {
 protected:
  std::vector<BuiltLayer> Layers(std::vector<json> specs) {
    std::vector<BuiltLayer> layers;
    for (const auto& s : specs) layers.push_back(BuildLayer(s, dir_));
    return layers;
  }
  std::string Path(const std::string& name) { return dir_.path() + "/" + name; }
  ScratchDir dir_{"banger-image"};
};

const std::string kCapability = std::string("\x01\x00\x00\x02\x00\x20\x00\x00", 8) + std::string(12, '\0');
// system.posix_acl_access: user::rw-, user:1000:r--, group::r--, mask::r--, other::r--
const std::string kAcl = std::string("\x02\x00\x00\x00", 4) + std::string("\x01\x00\x06\x00\xff\xff\xff\xff", 8) +
                         std::string("\x02\x00\x04\x00\xe8\x03\x00\x00", 8) +
                         std::string("\x04\x00\x04\x00\xff\xff\xff\xff", 8) +
                         std::string("\x10\x00\x04\x00\xff\xff\xff\xff", 8) +
                         std::string("\x20\x00\x04\x00\xff\xff\xff\xff", 8);

TEST_F(Image, EveryEntryKindSurvivesIntoExt4) {
  auto layers = Layers({
      Layer({{{"path", "etc"}, {"type", "dir"}, {"mode", 0755}},
             {{"path", "etc/passwd"}, {"content", "root:x:0:0::/root:/bin/sh\n"}},
             {{"path", "etc/shadow"}, {"content", "root:*::\n"}, {"mode", 0640}, {"gid", 42}},
             {{"path", "usr/bin/sudo"}, {"content", "sudo"}, {"mode", 04755}},
             {{"path", "usr/bin/wall"}, {"content", "wall"}, {"mode", 02755}, {"gid", 5}},
             {{"path", "tmp"}, {"type", "dir"}, {"mode", 01777}},
             {{"path", "usr/bin/ping"}, {"content", "ping"}, {"mode", 0755},
              {"xattrs", {{"security.capability", Hex(kCapability)}, {"user.note", Hex("hello")}}}},
             {{"path", "srv/shared"}, {"content", "acl"}, {"xattrs", {{"system.posix_acl_access", Hex(kAcl)}}}},
             {{"path", "home/u"}, {"type", "dir"}, {"mode", 0700}, {"uid", 100000}, {"gid", 100000}},
             {{"path", "bin"}, {"type", "symlink"}, {"target", "usr/bin"}},
             {{"path", "etc/long-link"}, {"type", "symlink"}, {"target", std::string(200, 'L')}},
             {{"path", "usr/bin/sudoedit"}, {"type", "hardlink"}, {"target", "usr/bin/sudo"}},
             {{"path", "dev/null"}, {"type", "char"}, {"major", 1}, {"minor", 3}, {"mode", 0666}},
             {{"path", "dev/big"}, {"type", "block"}, {"major", 259}, {"minor", 300000}, {"mode", 0660}},
             {{"path", "run/fifo"}, {"type", "fifo"}, {"mode", 0600}},
             {{"path", "old"}, {"content", "gone"}}}),
      {{"compression", "zstd"},
       {"entries", {{{"path", ".wh.old"}, {"content", ""}},
                    {{"path", "etc/passwd"}, {"content", "root:x:0:0::/root:/bin/bash\n"}},
                    {{"path", "sparse"}, {"size", 8 << 20}, {"sparse", {{0, "head"}, {6 << 20, "tail"}}}},
                    {{"path", "name with\nnewline"}, {"content", "raw"}}}}},
  });
  const std::string image = Path("rootfs.ext4");
  auto built = BuildRootfs(layers, image);
  ASSERT_TRUE(built) << built.error().message;
  CommandResult fsck = Fsck(image);
  EXPECT_EQ(fsck.exit_status, 0) << fsck.output;
  json tree = DumpTree(image);
  ASSERT_FALSE(tree.is_null());
  auto at = [&](const std::string& path) -> const json& {
    static const json kMissing = json::object();
    return tree.contains(path) ? tree[path] : kMissing;
  };
  EXPECT_EQ(at("/etc/passwd")["sha256"], Sha256Hex("root:x:0:0::/root:/bin/bash\n")) << "the upper layer wins";
  EXPECT_EQ(at("/etc/shadow")["mode"], "0o640");
  EXPECT_EQ(at("/etc/shadow")["gid"], 42);
  EXPECT_EQ(at("/usr/bin/sudo")["mode"], "0o4755");
  EXPECT_EQ(at("/usr/bin/wall")["mode"], "0o2755");
  EXPECT_EQ(at("/tmp")["mode"], "0o1777");
  EXPECT_EQ(at("/usr/bin/ping")["xattrs"]["security.capability"], Hex(kCapability));
  EXPECT_EQ(at("/usr/bin/ping")["xattrs"]["user.note"], Hex("hello"));
  EXPECT_EQ(at("/srv/shared")["xattrs"]["system.posix_acl_access"], Hex(kAcl)) << "POSIX ACLs round-trip";
  EXPECT_EQ(at("/home/u")["uid"], 100000) << "uids above 65535";
  EXPECT_EQ(at("/bin")["target"], "usr/bin");
  EXPECT_EQ(at("/etc/long-link")["target"], std::string(200, 'L')) << "slow symlink";
  EXPECT_EQ(at("/usr/bin/sudoedit")["link_group"], "/usr/bin/sudo") << "one inode, two names";
  EXPECT_EQ(at("/usr/bin/sudo")["link_group"], "/usr/bin/sudo");
  EXPECT_EQ(at("/dev/null")["rdev"], json::array({1, 3}));
  EXPECT_EQ(at("/dev/big")["rdev"], json::array({259, 300000})) << "new device encoding";
  EXPECT_EQ(at("/dev/big")["type"], "block");
  EXPECT_EQ(at("/run/fifo")["type"], "fifo");
  EXPECT_FALSE(tree.contains("/old")) << "whited out";
  EXPECT_FALSE(tree.contains("/.wh.old"));
  EXPECT_EQ(at("/sparse")["size"], 8 << 20);
  EXPECT_TRUE(tree.contains("/name with\nnewline"));
  CommandResult blocks = RunCommand("debugfs -R 'stat /sparse' " + image + " 2>/dev/null | grep -o 'Blockcount: [0-9]*'");
  EXPECT_EQ(blocks.output, "Blockcount: 16\n") << "two 4 KiB data blocks, the rest holes";
}

}  // namespace
}  // namespace banger::testing
