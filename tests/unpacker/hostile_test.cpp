// Every hostile-layer class the unpacker handles, each built as a layer and replayed in
// the sandbox: the outcome is a correct tree or a named error, never a host effect.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "tests/unpacker/unpack_harness.h"

namespace banger::testing {
namespace {

using nlohmann::json;
using ipc::EntryKind;

class Hostile : public ::testing::Test {
 protected:
  Result<UnpackedTree> Run(std::vector<json> specs, UnpackOptions options = {}) {
    std::vector<BuiltLayer> layers;
    for (const auto& s : specs) layers.push_back(BuildLayer(s, dir_));
    return Unpack(layers, options);
  }
  ScratchDir dir_{"banger-hostile"};
};

#define EXPECT_ERROR_WITH(result, text)                                                        \
  do {                                                                                         \
    ASSERT_FALSE(result) << "expected an error containing: " << text;                          \
    EXPECT_NE((result).error().message.find(text), std::string::npos) << (result).error().message; \
  } while (0)

TEST_F(Hostile, DotDotAndAbsoluteNamesStayInTheImage) {
  auto tree = Run({Layer({LayerEntry::File("../../../../etc/evil", "a"), LayerEntry::File("/abs/file", "b"),
                          LayerEntry::File("./x/../y", "c")})});
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_EQ(tree->contents.at("/etc/evil"), "a");
  EXPECT_EQ(tree->contents.at("/abs/file"), "b");
  EXPECT_EQ(tree->contents.at("/y"), "c");
  EXPECT_EQ(tree->summary.entries, 6u) << "/, /etc, /etc/evil, /abs, /abs/file, /y";
}

TEST_F(Hostile, WriteThroughASymlinkInOneLayerLandsInTheImage) {
  // A directory that exists on the host: a write that followed the symlink there would land.
  const std::string canary = dir_.path() + "/canary";
  ASSERT_EQ(::mkdir(canary.c_str(), 0755), 0);
  auto tree = Run({Layer({LayerEntry::Symlink("escape", canary), LayerEntry::File("escape/owned", "pwn"),
                          LayerEntry::Symlink("up", "../../../../../.."), LayerEntry::File("up/etc/hostile", "h")})});
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_EQ(tree->contents.at(canary + "/owned"), "pwn") << "the symlink was followed inside the image";
  EXPECT_EQ(tree->contents.at("/etc/hostile"), "h") << "`..` in a symlink target clamps at the image root";
  EXPECT_NE(::access((canary + "/owned").c_str(), F_OK), 0) << "nothing was written on the host";
  EXPECT_EQ(RunCommand("ls -A " + canary).output, "") << "the host directory is as it was";
}

TEST_F(Hostile, WriteThroughASymlinkAcrossLayers) {
  auto tree = Run(
      {Layer({LayerEntry::Dir("etc"), LayerEntry::File("etc/passwd", "image"), LayerEntry::Symlink("link", "/etc")}),
       Layer({LayerEntry::File("link/passwd", "replaced"), LayerEntry::File("link/new", "n")})});
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_EQ(tree->contents.at("/etc/passwd"), "replaced");
  EXPECT_EQ(tree->contents.at("/etc/new"), "n");
  EXPECT_EQ(tree->Find("/link")->kind, EntryKind::kSymlink);
}

TEST_F(Hostile, SymlinkNamedDotIsIgnored) {
  auto tree = Run({Layer({LayerEntry::Symlink(".", "/etc"), LayerEntry::File("a", "1")})});
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_EQ(tree->Find("/")->kind, EntryKind::kDirectory);
  EXPECT_EQ(tree->contents.at("/a"), "1");
  EXPECT_NE(tree->done["warnings"].dump().find("non-directory entry for the image root"), std::string::npos);
}

TEST_F(Hostile, HardlinkToAHostPathIsANamedError) {
  auto abs = Run({Layer({LayerEntry::Hardlink("steal", "/etc/shadow")})});
  EXPECT_ERROR_WITH(abs, "which is not in the image");
  auto up = Run({Layer({LayerEntry::Hardlink("steal", "../../../../etc/shadow")})});
  EXPECT_ERROR_WITH(up, "which is not in the image");
}

TEST_F(Hostile, HardlinkToTheImagesOwnFileByAbsoluteOrDottedName) {
  auto tree = Run({Layer({LayerEntry::File("etc/shadow", "s"), LayerEntry::Hardlink("copy", "../../etc/shadow")})});
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_TRUE(tree->SameInode("/copy", "/etc/shadow"));
}

TEST_F(Hostile, HardlinkToASymlinkLinksTheSymlink) {
  auto tree = Run({Layer({LayerEntry::Symlink("s", "target"), LayerEntry::Hardlink("h", "s")})});
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_TRUE(tree->SameInode("/h", "/s"));
  EXPECT_EQ(tree->Find("/h")->kind, EntryKind::kSymlink) << "the first name carries the symlink inode";
}

TEST_F(Hostile, HardlinkToItselfIsANamedError) {
  auto tree = Run({Layer({LayerEntry::File("a", "x")}), Layer({LayerEntry::Hardlink("a", "a")})});
  EXPECT_ERROR_WITH(tree, "hardlink to itself");
}

TEST_F(Hostile, WhiteoutsWithDotDotOrAbsoluteNames) {
  auto tree = Run({Layer({LayerEntry::Dir("etc"), LayerEntry::File("etc/a", "x"), LayerEntry::Dir("bin"),
                          LayerEntry::File("bin/sh", "x")}),
                   Layer({LayerEntry::File("../../.wh.etc", ""), LayerEntry::File("/.wh.bin", ""),
                          LayerEntry::File("/.wh...", "")})});
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_FALSE(tree->Has("/etc"));
  EXPECT_FALSE(tree->Has("/etc/a"));
  EXPECT_FALSE(tree->Has("/bin"));
  EXPECT_EQ(tree->summary.entries, 1u) << "only the root is left";
}

TEST_F(Hostile, OpaqueMarkerBeforeOrAfterItsSiblings) {
  json lower = Layer({LayerEntry::Dir("d"), LayerEntry::File("d/old1", "x"), LayerEntry::File("d/old2", "x"),
                      LayerEntry::Dir("d/sub"), LayerEntry::File("d/sub/deep", "x")});
  for (bool marker_first : {true, false}) {
    std::vector<LayerEntry> upper_entries = {LayerEntry::File("d/new", "n"), LayerEntry::File("d/sub/fresh", "f")};
    LayerEntry marker = LayerEntry::File("d/.wh..wh..opq", "");
    if (marker_first) {
      upper_entries.insert(upper_entries.begin(), marker);
    } else {
      upper_entries.push_back(marker);
    }
    auto tree = Run({lower, Layer(upper_entries)});
    ASSERT_TRUE(tree) << tree.error().message;
    EXPECT_FALSE(tree->Has("/d/old1")) << "marker first: " << marker_first;
    EXPECT_FALSE(tree->Has("/d/old2"));
    EXPECT_FALSE(tree->Has("/d/sub/deep")) << "lower content under a re-made subdir is hidden too";
    EXPECT_EQ(tree->contents.at("/d/new"), "n") << "the marker never hides its own layer";
    EXPECT_EQ(tree->contents.at("/d/sub/fresh"), "f");
    EXPECT_FALSE(tree->Has("/d/.wh..wh..opq"));
  }
}

// No name of the output may start with .wh., whatever entry type carried it.
void ExpectNoWhiteoutNames(const UnpackedTree& tree) {
  for (const auto& [path, entry] : tree.entries) EXPECT_EQ(path.find("/.wh."), std::string::npos) << path;
  for (const auto& [path, first] : tree.hardlinks) EXPECT_EQ(path.find("/.wh."), std::string::npos) << path;
}

TEST_F(Hostile, AWhiteoutOfAnyTypeHidesAndNeverAppears) {
  json lower = Layer({LayerEntry::Dir("d"), LayerEntry::File("d/x", "x"), LayerEntry::File("f", "old"),
                      LayerEntry::File("g", "old"), LayerEntry::File("keep", "k")});
  auto tree =
      Run({lower, Layer({LayerEntry::Dir(".wh.d"), LayerEntry::File(".wh.d/child", "c"), LayerEntry::Dir(".wh.d/sub"),
                         LayerEntry::File(".wh.d/sub/deep", "x"), LayerEntry::Symlink(".wh.f", "anything"),
                         LayerEntry::File("new", "n"), LayerEntry::Hardlink(".wh.g", "new"), LayerEntry::Dir("a"),
                         LayerEntry::File("a/.wh.b/c", "c")})});
  ASSERT_TRUE(tree) << tree.error().message;
  ExpectNoWhiteoutNames(*tree);
  EXPECT_FALSE(tree->Has("/d")) << "a directory whiteout hides d";
  EXPECT_FALSE(tree->Has("/f")) << "a symlink whiteout hides f";
  EXPECT_FALSE(tree->Has("/g")) << "a hardlink whiteout hides g";
  EXPECT_EQ(tree->contents.at("/new"), "n");
  EXPECT_EQ(tree->contents.at("/keep"), "k");
  EXPECT_TRUE(tree->Has("/a"));
  EXPECT_FALSE(tree->Has("/a/c"));
  EXPECT_NE(tree->done["warnings"].dump().find("'.wh.d/child' is inside '.wh.d', a whiteout, and was skipped"),
            std::string::npos)
      << tree->done["warnings"].dump();
}

TEST_F(Hostile, AWhiteoutNameReachedThroughASymlinkIsANamedError) {
  auto tree = Run({Layer({LayerEntry::Symlink("s", ".wh.evil")}), Layer({LayerEntry::File("s/file", "f")})});
  EXPECT_ERROR_WITH(tree, "would make a directory named '.wh.evil', a name the image format keeps for whiteouts");
}

// aufs layers keep files with several names in /.wh..wh.plnk and link to them: the links
// resolve (to one inode), then the directory goes, as moby's does, with .wh..wh.aufs and
// .wh..wh.orph.
TEST_F(Hostile, AufsMetadataIsConsumedAsMobyDoes) {
  auto tree =
      Run({Layer({LayerEntry::Dir(".wh..wh.plnk"), LayerEntry::File(".wh..wh.plnk/1234.5678", "pseudo-link"),
                  LayerEntry::Dir("usr"), LayerEntry::Hardlink("usr/a", ".wh..wh.plnk/1234.5678"),
                  LayerEntry::Hardlink("usr/b", "/.wh..wh.plnk/1234.5678"), LayerEntry::File(".wh..wh.aufs", "xino"),
                  LayerEntry::Dir(".wh..wh.orph"), LayerEntry::File(".wh..wh.orph/x", "orphan"),
                  LayerEntry::File(".wh..wh.plnk/unused", "u")})});
  ASSERT_TRUE(tree) << tree.error().message;
  ExpectNoWhiteoutNames(*tree);
  EXPECT_TRUE(tree->SameInode("/usr/a", "/usr/b"));
  const std::string first = tree->hardlinks.count("/usr/a") ? tree->hardlinks.at("/usr/a") : "/usr/a";
  EXPECT_EQ(tree->contents.at(first), "pseudo-link");
  EXPECT_EQ(tree->summary.entries, 4u) << "/, /usr, /usr/a, /usr/b";
  EXPECT_EQ(tree->summary.data_bytes, 11u) << "the unused pseudo-link is gone with its directory";
}

TEST_F(Hostile, AufsLinksResolveOnlyWithinTheirLayer) {
  auto missing = Run({Layer({LayerEntry::Hardlink("a", ".wh..wh.plnk/none")})});
  EXPECT_ERROR_WITH(missing, "hardlink to '.wh..wh.plnk/none' in aufs's .wh..wh.plnk, which this layer does not hold");
  auto later =
      Run({Layer({LayerEntry::File(".wh..wh.plnk/1.2", "p")}), Layer({LayerEntry::Hardlink("a", ".wh..wh.plnk/1.2")})});
  EXPECT_ERROR_WITH(later, "which this layer does not hold");
}

TEST_F(Hostile, WhiteoutAndReAddInOneLayer) {
  for (bool whiteout_first : {true, false}) {
    std::vector<LayerEntry> upper = {LayerEntry::File(".wh.f", ""), LayerEntry::File("f", "new")};
    if (!whiteout_first) std::swap(upper[0], upper[1]);
    auto tree = Run({Layer({LayerEntry::File("f", "old")}), Layer(upper)});
    ASSERT_TRUE(tree) << tree.error().message;
    EXPECT_EQ(tree->contents.at("/f"), "new") << "whiteout first: " << whiteout_first;
  }
}

TEST_F(Hostile, DirectoryAndFileReplaceEachOtherAcrossLayers) {
  auto tree =
      Run({Layer({LayerEntry::Dir("x"), LayerEntry::File("x/inner", "x"), LayerEntry::File("y", "file")}),
           Layer({LayerEntry::File("x", "now a file"), LayerEntry::Dir("y"), LayerEntry::File("y/child", "c")})});
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_EQ(tree->Find("/x")->kind, EntryKind::kRegular);
  EXPECT_FALSE(tree->Has("/x/inner")) << "the old subtree goes";
  EXPECT_EQ(tree->Find("/y")->kind, EntryKind::kDirectory);
  EXPECT_EQ(tree->contents.at("/y/child"), "c");
}

TEST_F(Hostile, DirectoryOverDirectoryMergesAttributes) {
  auto tree = Run({Layer({LayerEntry::Dir("d").Mode(0700), LayerEntry::File("d/keep", "k")}),
                   Layer({LayerEntry::Dir("d").Mode(0755).Uid(7)})});
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_EQ(tree->Find("/d")->mode, 0755u);
  EXPECT_EQ(tree->Find("/d")->uid, 7u);
  EXPECT_EQ(tree->contents.at("/d/keep"), "k");
}

TEST_F(Hostile, DuplicatesInOneLayerTheLastWins) {
  auto tree = Run(
      {Layer({LayerEntry::File("f", "first"), LayerEntry::File("f", "second"), LayerEntry::Symlink("f", "third")})});
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_EQ(tree->Find("/f")->kind, EntryKind::kSymlink);
  EXPECT_EQ(tree->Find("/f")->link_target, "third");
}

TEST_F(Hostile, ReplacingAHardlinkedPathBreaksTheLink) {
  auto tree = Run({Layer({LayerEntry::File("a", "original"), LayerEntry::Hardlink("b", "a")}),
                   Layer({LayerEntry::File("a", "replaced")})});
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_EQ(tree->contents.at("/a"), "replaced");
  EXPECT_EQ(tree->contents.at("/b"), "original") << "b keeps the old inode: nothing was written through";
  EXPECT_TRUE(tree->hardlinks.empty());
}

TEST_F(Hostile, HardlinkIntoALowerLayer) {
  auto tree = Run({Layer({LayerEntry::File("lower", "L")}), Layer({LayerEntry::Hardlink("upper", "lower")})});
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_TRUE(tree->SameInode("/upper", "/lower"));
}

TEST_F(Hostile, MergedUsrParentSymlinks) {
  auto tree = Run({Layer({LayerEntry::Dir("usr"), LayerEntry::Dir("usr/lib"), LayerEntry::Symlink("lib", "usr/lib"),
                          LayerEntry::Symlink("bin", "/usr/bin")}),
                   Layer({LayerEntry::File("lib/libc.so.6", "libc"), LayerEntry::File("bin/sh", "sh")})});
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_EQ(tree->contents.at("/usr/lib/libc.so.6"), "libc");
  EXPECT_EQ(tree->contents.at("/usr/bin/sh"), "sh");
  EXPECT_EQ(tree->Find("/lib")->kind, EntryKind::kSymlink);
}

TEST_F(Hostile, SymlinkLoopsAreNamedErrors) {
  auto loop =
      Run({Layer({LayerEntry::Symlink("a", "b"), LayerEntry::Symlink("b", "a"), LayerEntry::File("a/x", "x")})});
  EXPECT_ERROR_WITH(loop, "symlinks to follow (a loop?)");
  auto self = Run({Layer({LayerEntry::Symlink("s", "s/s"), LayerEntry::File("s/x", "x")})});
  EXPECT_ERROR_WITH(self, "(a loop?)");
}

TEST_F(Hostile, NamesAreRawBytes) {
  const std::vector<std::string> names = {"new\nline", "tab\there", "quote\"s'", "$(rm -rf /)", "back\\slash",
                                          std::string("non-utf8-\xff\xfe", 11), "spaces  and  more"};
  std::vector<LayerEntry> entries;
  for (const auto& n : names) entries.push_back(LayerEntry::File(EntryName::Bytes(n), "ok"));
  auto tree = Run({Layer(entries)});
  ASSERT_TRUE(tree) << tree.error().message;
  for (const auto& n : names) EXPECT_EQ(tree->contents.count("/" + n), 1u) << "lost: " << n;
}

TEST_F(Hostile, OverlongComponentIsANamedError) {
  auto tree = Run({Layer({LayerEntry::File(std::string(300, 'n'), "x")})});
  EXPECT_ERROR_WITH(tree, "a name component of 300 bytes exceeds 255");
}

TEST_F(Hostile, VeryDeepPathsWork) {
  std::string deep;
  for (int i = 0; i < 1500; ++i) deep += "d/";
  auto tree = Run({Layer({LayerEntry::File(deep + "leaf", "deep")})});
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_EQ(tree->contents.at("/" + deep + "leaf"), "deep");
  EXPECT_EQ(tree->summary.directories, 1501u);
}

TEST_F(Hostile, XattrExt4CannotHoldIsANamedError) {
  auto tree = Run({Layer({LayerEntry::File("big", "x").Xattr("user.big", std::string(70000, '\xaa'))})});
  EXPECT_ERROR_WITH(tree, "xattrs of 70");
}

TEST_F(Hostile, SparseFilesKeepTheirHoles) {
  auto tree =
      Run({Layer({LayerEntry::File("sparse.img").Size(64 << 20).Sparse({{0, "start"}, {32 << 20, "middle"}})})});
  ASSERT_TRUE(tree) << tree.error().message;
  const ipc::TreeEntry* file = tree->Find("/sparse.img");
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(file->size, 64u << 20);
  uint64_t data = 0;
  for (const auto& x : file->extents) data += x.length;
  EXPECT_LT(data, 64u * 1024) << "only the written blocks are data";
}

TEST_F(Hostile, AllZeroFileOf256MiBKeepsMemoryFlat) {
  auto tree = Run({Layer({LayerEntry::File("zeros").ZeroBytes(256 << 20)}, "none")});
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_EQ(tree->Find("/zeros")->size, 256u << 20);
  EXPECT_TRUE(tree->Find("/zeros")->extents.empty()) << "all-zero blocks are holes";
  EXPECT_LT(tree->peak_rss_kib, 64u * 1024) << "the unpacker's peak RSS, KiB";
}

TEST_F(Hostile, TruncatedGzipIsANamedError) {
  json spec = Layer({LayerEntry::File("a", std::string(100000, 'q'))});
  spec["truncate"] = -20;  // the trailer and the end of the deflate data
  auto tree = Run({spec});
  EXPECT_ERROR_WITH(tree, "gzip stream is truncated");
}

TEST_F(Hostile, RandomBytesAreANamedError) {
  std::string noise;
  for (int i = 0; i < 4096; ++i) noise += "0123456789abcdef"[(i * 7919) % 16];
  auto tree = Run({{{"compression", "none"}, {"raw", noise}}});
  ASSERT_FALSE(tree);
  EXPECT_NE(tree.error().message.find("layer sha256:"), std::string::npos) << tree.error().message;
}

TEST_F(Hostile, MediaTypesThatLieAreHandledBySniffing) {
  UnpackOptions claims_gzip;
  claims_gzip.media_type = "application/vnd.oci.image.layer.v1.tar+gzip";
  auto plain = Run({Layer({LayerEntry::File("p", "plain")}, "none")}, claims_gzip);
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_EQ(plain->contents.at("/p"), "plain");
  auto zstd = Run({Layer({LayerEntry::File("z", "zstd")}, "zstd")}, claims_gzip);
  ASSERT_TRUE(zstd) << zstd.error().message;
  EXPECT_EQ(zstd->contents.at("/z"), "zstd");
}

TEST_F(Hostile, TrailingGarbageAfterTheArchiveEnd) {
  json spec = Layer({LayerEntry::File("a", "kept")});
  spec["trailing"] = "deadbeef00ff";
  auto tree = Run({spec});
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_EQ(tree->contents.at("/a"), "kept");
}

TEST_F(Hostile, DiffIdMismatchIsANamedError) {
  UnpackOptions wrong;
  wrong.diff_ids = std::vector<std::string>{"sha256:" + std::string(64, '0')};
  auto tree = Run({Layer({LayerEntry::File("a", "x")})}, wrong);
  EXPECT_ERROR_WITH(tree, "(diff_id)");
}

TEST_F(Hostile, LayerCountThatDisagreesWithDiffIds) {
  UnpackOptions one;
  one.diff_ids = std::vector<std::string>{"sha256:" + std::string(64, '0')};
  auto tree = Run({Layer({LayerEntry::File("a", "x")}), Layer({LayerEntry::File("b", "x")})}, one);
  EXPECT_ERROR_WITH(tree, "lists 2 layers but the config has 1 diff_ids");
}

// Zeros are holes, whatever the ratio: 256 MiB of them gzip to about 256 KiB (1000:1,
// refused by a ratio bound once) and zstd goes far past that. What costs is bounded instead.
TEST_F(Hostile, ZeroFilesPullAtAnyCompressionRatio) {
  for (const char* compression : {"gzip", "zstd"}) {
    json spec = Layer({LayerEntry::File("zeros").ZeroBytes(256 << 20), LayerEntry::File("after", "a")}, compression);
    auto tree = Run({spec});
    ASSERT_TRUE(tree) << compression << ": " << tree.error().message;
    EXPECT_EQ(tree->Find("/zeros")->size, 256u << 20);
    EXPECT_TRUE(tree->Find("/zeros")->extents.empty()) << "all holes";
    EXPECT_EQ(tree->done["spool_bytes"], 1u) << "only the byte of /after is data";
    EXPECT_EQ(tree->contents.at("/after"), "a");
  }
}

TEST_F(Hostile, TheSpoolBoundCountsDataNotZeros) {
  UnpackOptions tight;
  tight.limits = {{"max_spool_bytes", 1 << 20}};
  auto zeros = Run({Layer({LayerEntry::File("zeros").ZeroBytes(64 << 20)})}, tight);
  EXPECT_TRUE(zeros) << "64 MiB of holes fit a 1 MiB data bound: " << zeros.error().message;
  auto data = Run({Layer({LayerEntry::File("small", "s"), LayerEntry::File("usr/big").FillBytes(2 << 20)})}, tight);
  EXPECT_ERROR_WITH(data, "'usr/big' takes the image's file data past 1048576 bytes");
  EXPECT_ERROR_WITH(data, "(the data bound, max_spool_bytes)");
}

// Two layers read at once still meet the image's bounds as one: each alone fits, the
// two together do not (docs/unpacker.md, "Layers in parallel").
TEST_F(Hostile, TheTotalAndDataBoundsSpanLayers) {
  const auto two = std::vector<nlohmann::json>{Layer({LayerEntry::File("one").FillBytes(600 << 10)}),
                                               Layer({LayerEntry::File("two").FillBytes(600 << 10)})};
  UnpackOptions total;
  total.limits = {{"max_total_bytes", 1 << 20}};
  EXPECT_ERROR_WITH(Run(two, total), "bytes (the total size bound, max_total_bytes)");
  UnpackOptions data;
  data.limits = {{"max_spool_bytes", 1 << 20}};
  EXPECT_ERROR_WITH(Run(two, data), "'two' takes the image's file data past 1048576 bytes");
  EXPECT_TRUE(Run(two)) << "each bound at its default";
}

// Layers whose blobs are large but whose files are all holes reserve windows they never
// fill: cut to the data bound, so the guest assets written after the layers land near
// it, not past the bound by the blobs' size (the broker's file size limit is the bound
// plus 64 MiB).
TEST_F(Hostile, UnusedWindowsDoNotTakeTheRegionPastTheDataBound) {
  UnpackOptions assets_only;
  assets_only.guest_assets = true;
  auto alone = Run({Layer({LayerEntry::File("a", "a")})}, assets_only);
  ASSERT_TRUE(alone) << alone.error().message;
  UnpackOptions bounded = assets_only;
  bounded.limits = {{"max_spool_bytes", 1 << 20}};
  auto holes = Run({Layer({LayerEntry::File("a", "a")}), Layer({LayerEntry::File("z1").ZeroBytes(3 << 20)}, "none"),
                    Layer({LayerEntry::File("z2").ZeroBytes(3 << 20)}, "none")},
                   bounded);
  ASSERT_TRUE(holes) << holes.error().message;
  EXPECT_LE(holes->done["spool_bytes"].get<uint64_t>(), (1u << 20) + alone->done["spool_bytes"].get<uint64_t>())
      << "the assets went past two unused 3 MiB windows";
}

TEST_F(Hostile, TheTimeBoundIsNamed) {
  UnpackOptions none;
  none.limits = {{"max_unpack_seconds", 0}};
  auto tree = Run({Layer({LayerEntry::File("a", "x"), LayerEntry::File("b", "x")})}, none);
  EXPECT_ERROR_WITH(tree, "still unpacking 'a' after 0 seconds (the time bound, max_unpack_seconds)");
  EXPECT_TRUE(Run({Layer({LayerEntry::File("a", "x"), LayerEntry::File("b", "x")})}))
      << "the default bound, an hour, is far off";
}

TEST_F(Hostile, OversizedPaxHeaderIsANamedError) {
  // libarchive itself refuses extended headers over 1 MiB; the unpacker names the layer.
  auto tree = Run({Layer({LayerEntry::File("f", "y").PaxBytes(3 << 20)})});
  ASSERT_FALSE(tree);
  EXPECT_NE(tree.error().message.find("layer sha256:"), std::string::npos) << tree.error().message;
  EXPECT_NE(tree.error().message.find("too large"), std::string::npos) << tree.error().message;
}

TEST_F(Hostile, PaxHeaderBoundIsAdjustable) {
  auto layer = [] {
    return Layer({LayerEntry::File("before", "0"), LayerEntry::File("f", "y").PaxBytes(200 << 10),
                  LayerEntry::File("after", "1")});
  };
  auto allowed = Run({layer()});
  ASSERT_TRUE(allowed) << "200 KiB of PAX header is within the 1 MiB default: " << allowed.error().message;
  EXPECT_TRUE(allowed->Has("/f") && allowed->Has("/after"));
  UnpackOptions tight;
  tight.limits = {{"max_header_bytes", 64 << 10}};
  auto refused = Run({layer()}, tight);
  EXPECT_ERROR_WITH(refused, "entry 'f' has");
  EXPECT_ERROR_WITH(refused, "the header bound, max_header_bytes=65536");
  tight.limits = {{"max_header_bytes", 4096}};
  EXPECT_TRUE(Run({Layer({LayerEntry::File("plain", "data")})}, tight))
      << "a plain ustar entry uses 512 bytes of header";
}

TEST_F(Hostile, EntryAndSizeBoundsAreNamed) {
  UnpackOptions few;
  few.limits = {{"max_entries", 3}};
  auto entries = Run({Layer({LayerEntry::File("a", "x"), LayerEntry::File("b", "x"), LayerEntry::File("c", "x"),
                             LayerEntry::File("d", "x")})},
                     few);
  EXPECT_ERROR_WITH(entries, "the entry bound");
  UnpackOptions small;
  small.limits = {{"max_layer_bytes", 100000}};
  auto bytes = Run({Layer({LayerEntry::File("big", std::string(200000, 'b'))})}, small);
  EXPECT_ERROR_WITH(bytes, "the layer size bound");
}

}  // namespace
}  // namespace banger::testing
