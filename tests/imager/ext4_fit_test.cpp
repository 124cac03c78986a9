// What lands in ext4 at the edges of what an inode holds, read back through the kernel
// (a read-only loop mount) and checked with e2fsck -fn: every value at its edge is the
// value the layer had, or the one the kernel would have clamped it to. Refusals past the
// edges are in tests/unpacker/ext4_fit_test.cpp; here are the ones only ext4 decides.
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "ipc/ext4_limits.h"
#include "tests/imager/image_harness.h"

namespace banger::testing {
namespace {

using nlohmann::json;

class Ext4Edges : public ::testing::Test {
 protected:
  void SetUp() override { BANGER_REQUIRE_ROOT(); }
  std::vector<BuiltLayer> Layers(std::vector<json> specs) {
    std::vector<BuiltLayer> layers;
    for (const auto& s : specs) layers.push_back(BuildLayer(s, dir_));
    return layers;
  }
  std::string Path(const std::string& name) { return dir_.path() + "/" + name; }
  // Builds the image, checks e2fsck -fn finds nothing, returns the kernel's view.
  json BuildAndRead(const std::vector<LayerEntry>& entries, const std::string& name) {
    auto built = BuildRootfs(Layers({Layer(entries)}), Path(name));
    if (!built) {
      ADD_FAILURE() << built.error().message;
      return json::object();
    }
    last_unpack_done_ = built->unpack_done;
    CommandResult fsck = Fsck(Path(name));
    EXPECT_EQ(fsck.exit_status, 0) << fsck.output.substr(0, 2000);
    last_fsck_ = fsck.output;
    json tree = DumpTree(Path(name), {}, /*times=*/true);
    return tree.is_object() ? tree : json::object();
  }
  // A time as fstree.py gives it: [seconds, nanoseconds].
  static json Time(int64_t sec, int64_t nsec = 0) { return json::array({sec, nsec}); }

  ScratchDir dir_{"banger-edges"};
  json last_unpack_done_;
  std::string last_fsck_;
};

TEST_F(Ext4Edges, TimesAtTheEdgesReadBackExactlyAndPastThemClamped) {
  json tree =
      BuildAndRead({LayerEntry::File("min", "t").Pax("mtime", "-2147483648"),
                    LayerEntry::File("max", "t").Pax("mtime", "15032385535"),
                    LayerEntry::File("inside", "t").Pax("mtime", "15032385534.5").Pax("atime", "-2147483647.25"),
                    LayerEntry::File("epoch1", "t").Pax("mtime", "4294967296.125").Pax("ctime", "2147483648"),
                    LayerEntry::File("early", "t").Pax("mtime", "-2147483649"),
                    LayerEntry::File("late", "t").Pax("mtime", "99999999999")},
                   "times.ext4");
  EXPECT_EQ(tree["/min"]["mtime"], Time(-2147483648LL));
  EXPECT_EQ(tree["/max"]["mtime"], Time(15032385535LL));
  EXPECT_EQ(tree["/inside"]["mtime"], Time(15032385534LL, 500000000));
  EXPECT_EQ(tree["/inside"]["atime"], Time(-2147483647LL, 250000000));
  EXPECT_EQ(tree["/epoch1"]["mtime"], Time(4294967296LL, 125000000)) << "past 2038: the epoch bits";
  EXPECT_EQ(tree["/epoch1"]["ctime"], Time(2147483648LL));
  EXPECT_EQ(tree["/early"]["mtime"], Time(-2147483648LL)) << "clamped, not wrapped to 2446";
  EXPECT_EQ(tree["/late"]["mtime"], Time(15032385535LL)) << "clamped, not wrapped";
}

// banger keeps these exactly, as the kernel does; e2fsck -n reports them (PR_NO_OK: its
// exit status stays 0), and docs/imager.md says why banger does not move them.
TEST_F(Ext4Edges, TimesE2fsckCallsPre1970AreKeptExactly) {
  json tree = BuildAndRead({LayerEntry::File("first", "t").Pax("mtime", "10737418240"),
                            LayerEntry::File("last", "t").Pax("mtime", "12884901887.5"),
                            LayerEntry::File("after", "t").Pax("mtime", "12884901888")},
                           "fsck-range.ext4");
  EXPECT_EQ(tree["/first"]["mtime"], Time(10737418240LL));
  EXPECT_EQ(tree["/last"]["mtime"], Time(12884901887LL, 500000000));
  EXPECT_EQ(tree["/after"]["mtime"], Time(12884901888LL));
  EXPECT_NE(last_fsck_.find("are likely pre-1970"), std::string::npos) << last_fsck_;
  EXPECT_NE(last_unpack_done_["warnings"].dump().find("is kept exactly, but e2fsck reads"), std::string::npos);
}

TEST_F(Ext4Edges, IdsDevicesNamesAndTargetsAtTheirEdges) {
  const std::string name(255, 'n'), target(4095, 't');
  json tree =
      BuildAndRead({LayerEntry::File("ids", "i").Uid(4294967294u).Gid(4294967294u),
                    LayerEntry::Char("dev/edge").Pax("SCHILY.devmajor", "4095").Pax("SCHILY.devminor", "1048575"),
                    LayerEntry::Block("dev/small").Major(255).Minor(255), LayerEntry::File(name, "long"),
                    LayerEntry::Symlink("link", target)},
                   "edges.ext4");
  EXPECT_EQ(tree["/ids"]["uid"], 4294967294u);
  EXPECT_EQ(tree["/ids"]["gid"], 4294967294u);
  EXPECT_EQ(tree["/dev/edge"]["rdev"], json::array({4095, 1048575}));
  EXPECT_EQ(tree["/dev/small"]["rdev"], json::array({255, 255}));
  EXPECT_TRUE(tree.contains("/" + name));
  EXPECT_EQ(tree["/link"]["target"], target);
}

TEST_F(Ext4Edges, TheLargestFileExt4HoldsReadsBackWithItsSize) {
  const uint64_t max = ipc::ext4::kMaxFileSize;
  auto built = BuildRootfs(Layers({Layer({LayerEntry::File("huge").Size(max).SparseMap({{max - 4096, "tail"}})})}),
                           Path("huge.ext4"));
  ASSERT_TRUE(built) << built.error().message;
  CommandResult fsck = Fsck(Path("huge.ext4"));
  EXPECT_EQ(fsck.exit_status, 0) << fsck.output;
  EXPECT_EQ(RunInImage(Path("huge.ext4"), "stat -c '%s %b' $M/huge"), std::to_string(max) + " 8\n")
      << "the kernel's stat: the size, and one 4 KiB block of data";
  EXPECT_EQ(RunInImage(Path("huge.ext4"), "dd if=$M/huge bs=4096 skip=4294967294 count=1 status=none | head -c 4"),
            "tail");
}

TEST_F(Ext4Edges, SixtyFiveThousandNamesOfOneInode) {
  std::vector<LayerEntry> entries = {LayerEntry::File("d/f", "shared")};
  for (int i = 1; i < 65000; ++i) entries.push_back(LayerEntry::Hardlink("d/l" + std::to_string(i), "d/f"));
  json tree = BuildAndRead(entries, "links.ext4");
  EXPECT_EQ(tree["/d/f"]["nlink"], 65000);
  EXPECT_EQ(tree["/d/l64999"]["link_group"], "/d/f");
}

TEST_F(Ext4Edges, XattrsThatDoNotFitAreRefusedNamingTheLayerAndPath) {
  json tree = BuildAndRead({LayerEntry::File("etc/fits", "f").Xattr("user.big", std::string(3000, 'a'))}, "fits.ext4");
  EXPECT_EQ(tree["/etc/fits"]["xattrs"]["user.big"], Hex(std::string(3000, 'a')));
  auto layers = Layers({Layer({LayerEntry::File("etc/over", "o").Xattr("user.big", std::string(5000, 'a'))})});
  auto refused = BuildRootfs(layers, Path("over.ext4"));
  ASSERT_FALSE(refused);
  const std::string& message = refused.error().message;
  EXPECT_NE(message.find("layer " + layers[0].digest + ": '/etc/over': its 1 xattr(s) of 5008 bytes do not fit in ext4"),
            std::string::npos)
      << message;
}

// The names the imager makes before any layer (those in / of an image whose layer has
// one file, found by listing it) each give way to the image's own entry of any type, once.
TEST_F(Ext4Edges, NamesTheImagerMakesNeverAppearTwice) {
  ASSERT_TRUE(BuildRootfs(Layers({Layer({LayerEntry::File("only", "o")})}), Path("plain.ext4")));
  std::set<std::string> own;
  std::istringstream listing(RunCommand("debugfs -R 'ls -p /' " + Path("plain.ext4") + " 2>/dev/null").output);
  for (std::string line; std::getline(listing, line);) {
    // /ino/mode/uid/gid/name/size/
    std::vector<std::string> fields;
    std::stringstream parts(line);
    for (std::string field; std::getline(parts, field, '/');) fields.push_back(field);
    if (fields.size() >= 6 && fields[5] != "." && fields[5] != ".." && fields[5] != "only") own.insert(fields[5]);
  }
  EXPECT_EQ(own, (std::set<std::string>{"lost+found"}));
  for (const std::string& name : own) {
    const std::vector<std::pair<std::string, LayerEntry>> kinds = {
        {"file", LayerEntry::File(name, "mine")},
        {"symlink", LayerEntry::Symlink(name, "elsewhere")},
        {"hardlink", LayerEntry::Hardlink(name, "only")},
        {"dir", LayerEntry::File(name + "/kept", "k")},
    };
    for (const auto& [kind, entry] : kinds) {
      const std::string image = Path(kind + ".ext4");
      json tree = BuildAndRead({LayerEntry::File("only", "o"), entry}, kind + ".ext4");
      CommandResult count = RunCommand("debugfs -R 'ls /' " + image + " 2>/dev/null | tr ' ' '\\n' | grep -cx '" +
                                       name + "'");
      EXPECT_EQ(count.output, "1\n") << name << " as a " << kind;
      const json& seen = tree["/" + name];
      if (kind == "file") {
        EXPECT_EQ(seen["size"], 4) << "the image's own file replaces the directory";
      } else if (kind == "symlink") {
        EXPECT_EQ(seen["target"], "elsewhere");
      } else if (kind == "hardlink") {
        EXPECT_EQ(seen["link_group"], "/" + name);
      } else {
        EXPECT_TRUE(tree.contains("/" + name + "/kept")) << "a directory merges";
      }
    }
  }
}

}  // namespace
}  // namespace banger::testing
