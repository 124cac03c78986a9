// Values ext4 cannot hold, at and just past each edge (ipc/ext4_limits.h): the unpacker
// keeps what fits exactly, clamps times as the kernel does (one warning per image), and
// refuses the rest with an error naming the layer and the path. The kernel's view of
// what lands in ext4 is checked in tests/imager/ext4_fit_test.cpp.
#include <gtest/gtest.h>

#include "ipc/ext4_limits.h"
#include "tests/unpacker/unpack_harness.h"

namespace banger::testing {
namespace {

using nlohmann::json;

class Ext4Fit : public ::testing::Test {
 protected:
  Result<UnpackedTree> Run(std::vector<LayerEntry> entries) {
    layer_ = BuildLayer(Layer(std::move(entries)), dir_);
    return Unpack({layer_});
  }
  // The error names the layer and the path, and says why.
  void ExpectRefused(const Result<UnpackedTree>& tree, const std::string& path, const std::string& why) {
    ASSERT_FALSE(tree) << "expected a refusal of " << path;
    const std::string& message = tree.error().message;
    EXPECT_NE(message.find("layer " + layer_.digest), std::string::npos) << message;
    EXPECT_NE(message.find("'" + path + "'"), std::string::npos) << message;
    EXPECT_NE(message.find(why), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << "one line: " << message;
  }
  static std::string Warnings(const UnpackedTree& tree) { return tree.done["warnings"].dump(); }

  ScratchDir dir_{"banger-fit"};
  BuiltLayer layer_;
};

TEST_F(Ext4Fit, IdsUpTo4294967294AreKeptAndTheInvalidIdIsRefused) {
  auto kept =
      Run({LayerEntry::File("top", "x").Uid(4294967294u).Gid(4294967294u), LayerEntry::File("big", "x").Uid(70000)});
  ASSERT_TRUE(kept) << kept.error().message;
  EXPECT_EQ(kept->Find("/top")->uid, 4294967294u);
  EXPECT_EQ(kept->Find("/top")->gid, 4294967294u);
  EXPECT_EQ(kept->Find("/big")->uid, 70000u);
  ExpectRefused(Run({LayerEntry::File("etc/u", "x").Uid(4294967295u)}), "etc/u",
                "4294967295 is the kernel's invalid id");
  ExpectRefused(Run({LayerEntry::File("etc/g", "x").Gid(4294967295u)}), "etc/g",
                "4294967295 is the kernel's invalid id");
  ExpectRefused(Run({LayerEntry::File("wide", "x").Pax("uid", "4294967296")}), "wide", "ids run from 0 to 4294967294");
}

TEST_F(Ext4Fit, DeviceNumbersUpTo4095And1048575AreKeptAndWiderOnesRefused) {
  auto device = [](const std::string& path, const std::string& major, const std::string& minor) {
    return LayerEntry::Char(path).Pax("SCHILY.devmajor", major).Pax("SCHILY.devminor", minor);
  };
  auto kept = Run({device("dev/edge", "4095", "1048575"), device("dev/mem", "1", "1")});
  ASSERT_TRUE(kept) << kept.error().message;
  EXPECT_EQ(kept->Find("/dev/edge")->rdev_major, 4095u);
  EXPECT_EQ(kept->Find("/dev/edge")->rdev_minor, 1048575u);
  ExpectRefused(Run({device("dev/m", "4096", "0")}), "dev/m", "major 0-4095, minor 0-1048575");
  ExpectRefused(Run({device("dev/n", "0", "1048576")}), "dev/n", "is device 0:1048576");
  // 2^32 + 1 : 1 once landed as 1:1, /dev/mem.
  ExpectRefused(Run({device("dev/wrap", "4294967297", "1")}), "dev/wrap", "is device 4294967297:1");
  ExpectRefused(Run({LayerEntry::Block("dev/b").Major(5000).Minor(0)}), "dev/b", "is device 5000:0");
}

TEST_F(Ext4Fit, FileSizesUpTo16TiBMinus4KiBAreKeptAndLargerOnesRefused) {
  const uint64_t max = ipc::ext4::kMaxFileSize;
  auto sparse = [](const std::string& path, uint64_t size) {
    return LayerEntry::File(path).Size(size).SparseMap({{size - 4, "tail"}});
  };
  auto kept = Run({sparse("edge", max)});
  ASSERT_TRUE(kept) << kept.error().message;
  EXPECT_EQ(kept->Find("/edge")->size, max);
  ExpectRefused(Run({sparse("past", max + 1)}), "past", "over ext4's largest file (17592186040320 bytes");
}

TEST_F(Ext4Fit, TimesInsideTheRangeAreKeptExactly) {
  auto tree = Run({LayerEntry::File("min", "x").Pax("mtime", "-2147483648"),
                   LayerEntry::File("max", "x").Pax("mtime", "15032385535"),
                   LayerEntry::File("inside", "x").Pax("mtime", "15032385534.5").Pax("atime", "-2147483647.25")
                       .Pax("ctime", "0.5")});
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_EQ(tree->Find("/min")->mtime, (ipc::Timestamp{-2147483648LL, 0}));
  EXPECT_EQ(tree->Find("/max")->mtime, (ipc::Timestamp{15032385535LL, 0}));
  EXPECT_EQ(tree->Find("/inside")->mtime, (ipc::Timestamp{15032385534LL, 500000000}));
  EXPECT_EQ(tree->Find("/inside")->atime, (ipc::Timestamp{-2147483647LL, 250000000}));
  EXPECT_EQ(tree->Find("/inside")->ctime, (ipc::Timestamp{0, 500000000}));
  EXPECT_EQ(Warnings(*tree).find("clamped"), std::string::npos) << Warnings(*tree);
}

TEST_F(Ext4Fit, TimesOutsideTheRangeAreClampedAsTheKernelDoesWithOneWarning) {
  auto tree = Run({LayerEntry::File("early", "x").Pax("mtime", "-2147483649"),
                   LayerEntry::File("late", "x").Pax("mtime", "15032385536"),
                   LayerEntry::File("later", "x").Pax("atime", "99999999999").Pax("ctime", "-99999999999"),
                   LayerEntry::File("edge", "x").Pax("mtime", "15032385535.75")});
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_EQ(tree->Find("/early")->mtime, (ipc::Timestamp{-2147483648LL, 0}));
  EXPECT_EQ(tree->Find("/late")->mtime, (ipc::Timestamp{15032385535LL, 0}));
  EXPECT_EQ(tree->Find("/later")->atime, (ipc::Timestamp{15032385535LL, 0}));
  EXPECT_EQ(tree->Find("/later")->ctime, (ipc::Timestamp{-2147483648LL, 0}));
  EXPECT_EQ(tree->Find("/edge")->mtime, (ipc::Timestamp{15032385535LL, 0})) << "the kernel drops ns at the edge";
  const json& warnings = tree->done["warnings"];
  ASSERT_EQ(warnings.size(), 1u) << "one warning per image: " << warnings.dump();
  const std::string text = warnings[0];
  EXPECT_NE(text.find("'early': mtime 1901-12-13T20:45:51Z is outside what ext4 holds"), std::string::npos) << text;
  EXPECT_NE(text.find("clamped to 1901-12-13T20:45:52Z"), std::string::npos) << text;
  EXPECT_NE(text.find("(and 3 more entries like it)"), std::string::npos) << text;
}

TEST_F(Ext4Fit, TimesE2fsckMisreadsAreKeptWithAWarning) {
  // [2310-04-04T16:10:40Z, 2378-04-22T19:24:48Z): 3 * 2^32 - 2^31 <= t < 3 * 2^32.
  auto tree = Run({LayerEntry::File("before", "x").Pax("mtime", "10737418239"),
                   LayerEntry::File("first", "x").Pax("mtime", "10737418240"),
                   LayerEntry::File("last", "x").Pax("mtime", "12884901887"),
                   LayerEntry::File("after", "x").Pax("mtime", "12884901888")});
  ASSERT_TRUE(tree) << tree.error().message;
  EXPECT_EQ(tree->Find("/first")->mtime.sec, 10737418240LL);
  EXPECT_EQ(tree->Find("/last")->mtime.sec, 12884901887LL);
  const json& warnings = tree->done["warnings"];
  ASSERT_EQ(warnings.size(), 1u) << warnings.dump();
  const std::string text = warnings[0];
  EXPECT_NE(text.find("'first': mtime 2310-04-04T16:10:40Z is kept exactly, but e2fsck"), std::string::npos) << text;
  EXPECT_NE(text.find("(and 1 more entries like it)"), std::string::npos) << text;
}

TEST_F(Ext4Fit, NamesOf255BytesAreKeptAnd256Refused) {
  auto kept = Run({LayerEntry::File(std::string(255, 'n'), "x")});
  ASSERT_TRUE(kept) << kept.error().message;
  EXPECT_TRUE(kept->Has("/" + std::string(255, 'n')));
  auto refused = Run({LayerEntry::File("d/" + std::string(256, 'n'), "x")});
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("a name component of 256 bytes exceeds 255"), std::string::npos)
      << refused.error().message;
  EXPECT_NE(refused.error().message.find("layer " + layer_.digest), std::string::npos) << refused.error().message;
}

TEST_F(Ext4Fit, SymlinkTargetsOf4095BytesAreKeptAnd4096Refused) {
  const std::string target(4095, 't');
  auto kept = Run({LayerEntry::Symlink("long", target)});
  ASSERT_TRUE(kept) << kept.error().message;
  EXPECT_EQ(kept->Find("/long")->link_target, target);
  ExpectRefused(Run({LayerEntry::Symlink("longer", target + "t")}), "longer",
                "a symlink target must have 1 to 4095 bytes");
}

TEST_F(Ext4Fit, SixtyFiveThousandLinksAreKeptAndOneMoreRefused) {
  auto names = [](int count) {
    std::vector<LayerEntry> entries = {LayerEntry::File("d/f", "shared")};
    for (int i = 1; i < count; ++i) entries.push_back(LayerEntry::Hardlink("d/l" + std::to_string(i), "d/f"));
    return entries;
  };
  auto kept = Run(names(65000));
  ASSERT_TRUE(kept) << kept.error().message;
  EXPECT_EQ(kept->hardlinks.size(), 64999u);
  ExpectRefused(Run(names(65001)), "d/l65000", "would give it 65001 names; ext4 holds at most 65000 links");
}

}  // namespace
}  // namespace banger::testing
