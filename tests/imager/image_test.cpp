// The imager end to end: layers replayed by the sandboxed unpacker, streamed to the
// sandboxed imager, the ext4 checked by e2fsck -fn and compared, file by file, through a
// read-only loop mount.
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <iterator>

#include <gtest/gtest.h>

#include "tests/imager/image_harness.h"

namespace banger::testing {
namespace {

using nlohmann::json;

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
      Layer({LayerEntry::Dir("etc").Mode(0755), LayerEntry::File("etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
             LayerEntry::File("etc/shadow", "root:*::\n").Mode(0640).Gid(42),
             LayerEntry::File("usr/bin/sudo", "sudo").Mode(04755),
             LayerEntry::File("usr/bin/wall", "wall").Mode(02755).Gid(5), LayerEntry::Dir("tmp").Mode(01777),
             LayerEntry::File("usr/bin/ping", "ping").Mode(0755).Xattr("security.capability", kCapability)
                 .Xattr("user.note", "hello"),
             LayerEntry::File("srv/shared", "acl").Xattr("system.posix_acl_access", kAcl),
             LayerEntry::Dir("home/u").Mode(0700).Uid(100000).Gid(100000), LayerEntry::Symlink("bin", "usr/bin"),
             LayerEntry::Symlink("etc/long-link", std::string(200, 'L')),
             LayerEntry::Hardlink("usr/bin/sudoedit", "usr/bin/sudo"),
             LayerEntry::Char("dev/null").Major(1).Minor(3).Mode(0666),
             LayerEntry::Block("dev/big").Major(259).Minor(300000).Mode(0660),
             LayerEntry::Fifo("run/fifo").Mode(0600), LayerEntry::File("old", "gone")}),
      Layer({LayerEntry::File(".wh.old", ""), LayerEntry::File("etc/passwd", "root:x:0:0::/root:/bin/bash\n"),
             LayerEntry::File("sparse").Size(8 << 20).Sparse({{0, "head"}, {6 << 20, "tail"}}),
             LayerEntry::File("name with\nnewline", "raw")},
            "zstd"),
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


std::string FileSha256(const std::string& path) { return RunCommand("sha256sum " + path).output.substr(0, 64); }

uint64_t FileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// A sparse map may start a piece inside a block: here a large piece (copied by the
// kernel) ends 512 bytes into a block and a small one starts later in that same block,
// then small pieces follow. Every byte must come out as the layer has it.
TEST_F(Image, SparsePiecesInsideBlocksKeepEveryByte) {
  auto pattern = [](size_t size, int seed) {
    std::string bytes;
    for (size_t i = 0; i < size; ++i) bytes += static_cast<char>('a' + (i * 7 + seed) % 26);
    return bytes;
  };
  const std::string big = pattern(262656, 1), small = pattern(1000, 2), later = pattern(700, 3);
  const size_t size = 300000;
  auto layers = Layers(
      {Layer({LayerEntry::File("holes").Size(size).SparseMap({{0, big}, {263168, small}, {266300, later}})})});
  const std::string image = Path("holes.ext4");
  auto built = BuildRootfs(layers, image);
  ASSERT_TRUE(built) << built.error().message;
  std::string expected(size, '\0');
  expected.replace(0, big.size(), big);
  expected.replace(263168, small.size(), small);
  expected.replace(266300, later.size(), later);
  const std::string out = Path("holes.out");
  ASSERT_EQ(RunCommand("debugfs -R 'dump /holes " + out + "' " + image + " 2>/dev/null").exit_status, 0);
  std::ifstream in(out, std::ios::binary);
  const std::string actual((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(actual.size(), size);
  EXPECT_TRUE(actual == expected) << "first difference at byte "
                                  << std::mismatch(actual.begin(), actual.end(), expected.begin()).first - actual.begin();
  EXPECT_EQ(RunCommand("e2fsck -fn " + image + " >/dev/null 2>&1").exit_status, 0);
}

// A file whose data takes at most four extents is placed and written in one inode write
// (imager/file_inode.h); a fifth run takes libext2fs's extent tree, a level deeper. Both
// read back byte for byte.
TEST_F(Image, FilesOfUpToFourRunsKeepTheirExtentsInTheInodeAndMoreGetATree) {
  const auto piece = [](int seed) { return std::string(5000, static_cast<char>('a' + seed)); };
  std::vector<std::pair<uint64_t, std::string>> four, five;
  for (int i = 0; i < 5; ++i) {
    if (i < 4) four.push_back({i * 65536ull, piece(i)});
    five.push_back({i * 65536ull, piece(i)});
  }
  const uint64_t size = 1 << 20;
  auto layers = Layers({Layer({LayerEntry::File("one").Content(std::string(10000, 'x')),
                               LayerEntry::File("four").Size(size).SparseMap(four),
                               LayerEntry::File("five").Size(size).SparseMap(five)})});
  const std::string image = Path("runs.ext4");
  auto built = BuildRootfs(layers, image);
  ASSERT_TRUE(built) << built.error().message;
  EXPECT_EQ(RunCommand("e2fsck -fn " + image + " >/dev/null 2>&1").exit_status, 0);
  // debugfs's `ex` rows start "level/depth"; an inode-held root is depth 0.
  auto extents = [&](const std::string& name) { return RunCommand("debugfs -R 'ex /" + name + "' " + image + " 2>/dev/null").output; };
  EXPECT_NE(extents("one").find(" 0/ 0   1/  1"), std::string::npos) << extents("one");
  EXPECT_NE(extents("four").find(" 0/ 0   4/  4"), std::string::npos) << extents("four");
  EXPECT_NE(extents("five").find(" 1/ 1   5/"), std::string::npos) << extents("five");
  const std::vector<std::pair<std::string, std::vector<std::pair<uint64_t, std::string>>>> files = {
      {"one", {{0, std::string(10000, 'x')}}}, {"four", four}, {"five", five}};
  for (const auto& [name, pieces] : files) {
    std::string expected(name == "one" ? 10000 : size, '\0');
    for (const auto& [offset, bytes] : pieces) expected.replace(offset, bytes.size(), bytes);
    const std::string out = Path(name + ".out");
    ASSERT_EQ(RunCommand("debugfs -R 'dump /" + name + " " + out + "' " + image + " 2>/dev/null").exit_status, 0);
    std::ifstream in(out, std::ios::binary);
    EXPECT_TRUE(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()) == expected) << name;
  }
}

TEST_F(Image, SameImageGivesAByteIdenticalRootfs) {
  auto layers =
      Layers({Layer({LayerEntry::File("a/b/c", "same"), LayerEntry::Dir("d"), LayerEntry::Symlink("l", "a")})});
  ImageOptions options;
  options.manifest_digest = "sha256:" + std::string(64, 'c');
  ASSERT_TRUE(BuildRootfs(layers, Path("one.ext4"), options));
  ASSERT_TRUE(BuildRootfs(layers, Path("two.ext4"), options));
  EXPECT_EQ(FileSha256(Path("one.ext4")), FileSha256(Path("two.ext4")));
  CommandResult uuid = RunCommand("blkid -s UUID -o value " + Path("one.ext4"));
  ImageOptions other = options;
  other.manifest_digest = "sha256:" + std::string(64, 'd');
  ASSERT_TRUE(BuildRootfs(layers, Path("three.ext4"), other));
  EXPECT_NE(RunCommand("blkid -s UUID -o value " + Path("three.ext4")).output, uuid.output)
      << "the UUID follows the manifest digest";
  EXPECT_EQ(Fsck(Path("three.ext4")).exit_status, 0);
}

TEST_F(Image, SmallImageIsExactlyOneGiBAndSparse) {
  auto layers = Layers({Layer({LayerEntry::File("f", "small")})});
  auto built = BuildRootfs(layers, Path("small.ext4"));
  ASSERT_TRUE(built) << built.error().message;
  EXPECT_EQ(FileSize(Path("small.ext4")), 1ull << 30);
  EXPECT_EQ(built->image_done["filesystem_bytes"], 1ull << 30);
  CommandResult du = RunCommand("du -k " + Path("small.ext4") + " | cut -f1");
  EXPECT_LT(std::stoull(du.output), 64u * 1024) << "the file is sparse: KiB on disk";
  CommandResult blocks = RunCommand("dumpe2fs -h " + Path("small.ext4") + " 2>/dev/null | grep '^Block count:'");
  EXPECT_NE(blocks.output.find("262144"), std::string::npos) << blocks.output;
  CommandResult features = RunCommand("dumpe2fs -h " + Path("small.ext4") + " 2>/dev/null | grep '^Filesystem features:'");
  for (const char* f : {"has_journal", "extent", "64bit", "flex_bg", "dir_index", "metadata_csum", "huge_file",
                        "dir_nlink", "extra_isize", "sparse_super", "large_file", "filetype", "ext_attr"}) {
    EXPECT_NE(features.output.find(f), std::string::npos) << "missing feature " << f << ": " << features.output;
  }
  EXPECT_LT(built->imager_peak_rss_kib, 64u * 1024) << "imager peak RSS, KiB";
}

TEST_F(Image, RequestedSizesAndATooSmallOne) {
  auto layers = Layers({Layer({LayerEntry::File("f", std::string(3 << 20, 'z'))}, "gzip")});
  ImageOptions four_gib;
  four_gib.size_bytes = 4ull << 30;
  ASSERT_TRUE(BuildRootfs(layers, Path("four.ext4"), four_gib));
  EXPECT_EQ(FileSize(Path("four.ext4")), 4ull << 30);
  EXPECT_EQ(Fsck(Path("four.ext4")).exit_status, 0);
  ImageOptions mib;
  mib.size_bytes = 2048ull << 20;
  ASSERT_TRUE(BuildRootfs(layers, Path("mib.ext4"), mib));
  EXPECT_EQ(FileSize(Path("mib.ext4")), 2048ull << 20);
  ImageOptions tiny;
  tiny.size_bytes = 20 << 20;
  auto refused = BuildRootfs(layers, Path("tiny.ext4"), tiny);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("is too small"), std::string::npos) << refused.error().message;
}

// `count` empty files, or directories, in `dir`.
json ManyEntries(const std::string& dir, int count, bool directories) {
  std::vector<LayerEntry> entries = {LayerEntry::Dir(dir)};
  for (int i = 0; i < count; ++i) {
    const std::string path = dir + "/e" + std::to_string(i);
    entries.push_back(directories ? LayerEntry::Dir(path) : LayerEntry::File(path, ""));
  }
  return Layer(entries);
}

TEST_F(Image, HundredThousandEntriesInOneDirectory) {
  auto layers = Layers({ManyEntries("big", 100000, /*directories=*/false)});
  auto built = BuildRootfs(layers, Path("big.ext4"));
  ASSERT_TRUE(built) << built.error().message;
  CommandResult fsck = Fsck(Path("big.ext4"));
  EXPECT_EQ(fsck.exit_status, 0) << fsck.output.substr(0, 2000);
  CommandResult flags = RunCommand("debugfs -R 'stat /big' " + Path("big.ext4") + " 2>/dev/null | grep -o 'Flags: 0x[0-9a-f]*'");
  EXPECT_NE(flags.output.find("1"), std::string::npos);
  EXPECT_TRUE(std::stoul(flags.output.substr(9), nullptr, 16) & 0x1000) << "htree (EXT2_INDEX_FL): " << flags.output;
  CommandResult count = RunCommand("debugfs -R 'ls /big' " + Path("big.ext4") + " 2>/dev/null | grep -o 'e[0-9]*' | wc -l");
  EXPECT_EQ(std::stoul(count.output), 100000u);
}

// Long names fill a leaf with few entries: past 507 leaves the index needs a second level,
// which e2fsck checks hash by hash; every name is found, and the hash is mkfs's half_md4.
TEST_F(Image, ADirectoryBeyondOneIndexBlockGetsTwoLevels) {
  std::vector<LayerEntry> entries = {LayerEntry::Dir("long")};
  for (int i = 0; i < 12000; ++i) entries.push_back(LayerEntry::File("long/" + std::string(200, 'n') + std::to_string(i), ""));
  auto built = BuildRootfs(Layers({Layer(entries)}), Path("long.ext4"));
  ASSERT_TRUE(built) << built.error().message;
  CommandResult fsck = Fsck(Path("long.ext4"));
  EXPECT_EQ(fsck.exit_status, 0) << fsck.output.substr(0, 2000);
  CommandResult levels = RunCommand("debugfs -R 'htree /long' " + Path("long.ext4") + " 2>/dev/null | grep -m1 'Indirect levels'");
  EXPECT_NE(levels.output.find("Indirect levels: 1"), std::string::npos) << levels.output;
  CommandResult count = RunCommand("debugfs -R 'ls /long' " + Path("long.ext4") + " 2>/dev/null | grep -o 'n[0-9][0-9]*' | wc -l");
  EXPECT_EQ(std::stoul(count.output), 12000u);
  CommandResult found = RunCommand("debugfs -R 'stat /long/" + std::string(200, 'n') + "11999' " + Path("long.ext4") +
                                   " 2>&1 | grep -c 'Type: regular'");
  EXPECT_EQ(found.output, "1\n");
  CommandResult hash = RunCommand("dumpe2fs -h " + Path("long.ext4") + " 2>/dev/null | grep 'Default directory hash'");
  EXPECT_NE(hash.output.find("half_md4"), std::string::npos) << hash.output;
}

// The imager's own /lost+found gives way to a file, and its blocks are free again: the
// files after it get them. Metadata blocks are kept in memory until written out together
// (imager/block_cache_io.h); whatever of them is cached, every file keeps its bytes.
TEST_F(Image, BlocksFreedByTheImagersOwnLostAndFoundHoldTheirNewFilesBytes) {
  std::vector<LayerEntry> entries = {LayerEntry::File("lost+found", "mine")};
  std::vector<std::string> contents;
  for (int i = 0; i < 16; ++i) {
    std::string content;
    for (int j = 0; content.size() < 20000; ++j) content += "file " + std::to_string(i) + " line " + std::to_string(j) + "\n";
    contents.push_back(content);
    entries.push_back(LayerEntry::File("f" + std::to_string(i), content));
  }
  auto built = BuildRootfs(Layers({Layer(entries)}), Path("reuse.ext4"));
  ASSERT_TRUE(built) << built.error().message;
  CommandResult fsck = Fsck(Path("reuse.ext4"));
  EXPECT_EQ(fsck.exit_status, 0) << fsck.output.substr(0, 2000);
  for (int i = 0; i < 16; ++i) {
    CommandResult cat = RunCommand("{ debugfs -R 'cat /f" + std::to_string(i) + "' " + Path("reuse.ext4") + " 2>/dev/null; }");
    EXPECT_TRUE(cat.output == contents[i]) << "f" << i << " differs from what was written";
  }
}

TEST_F(Image, SeventyThousandSubdirectories) {
  auto layers = Layers({ManyEntries("many", 70000, /*directories=*/true)});
  auto built = BuildRootfs(layers, Path("many.ext4"));
  ASSERT_TRUE(built) << built.error().message;
  CommandResult fsck = Fsck(Path("many.ext4"));
  EXPECT_EQ(fsck.exit_status, 0) << fsck.output.substr(0, 2000);
  CommandResult links = RunCommand("debugfs -R 'stat /many' " + Path("many.ext4") + " 2>/dev/null | grep -o 'Links: [0-9]*'");
  EXPECT_EQ(links.output, "Links: 1\n") << "past 65000 subdirectories dir_nlink counts 1";
}

}  // namespace
}  // namespace banger::testing
