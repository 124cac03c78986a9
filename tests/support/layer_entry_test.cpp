// The entry builder writes exactly the keys tests/fixtures/layers.py knows, each setter
// one key, and layers.py refuses a key it does not know rather than building a default.
#include "tests/support/layer_entry.h"

#include <fstream>
#include <functional>
#include <set>

#include <gtest/gtest.h>

#include "tests/support/registry_fixture.h"
#include "tests/support/test_support.h"

namespace banger::testing {
namespace {

using nlohmann::json;

std::set<std::string> KeysOf(const LayerEntry& entry) {
  std::set<std::string> keys;
  for (const auto& [key, value] : entry.Json().items()) keys.insert(key);
  return keys;
}

// layers.py run on `spec`: its exit status and output.
CommandResult RunLayersPy(const json& spec, const ScratchDir& dir) {
  std::ofstream(dir.path() + "/spec.json") << spec.dump();
  return RunCommand("/usr/bin/python3 " + FixturesDir() + "/layers.py --spec " + dir.path() + "/spec.json --out " +
                    dir.path() + "/layer");
}

TEST(LayerEntryKeys, AreExactlyTheKeysLayersPyKnows) {
  CommandResult known = RunCommand("/usr/bin/python3 " + FixturesDir() + "/layers.py --print-known-keys 2>&1");
  ASSERT_EQ(known.exit_status, 0) << known.output;
  const json listed = json::parse(known.output, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(listed.is_array()) << known.output;
  const std::set<std::string> layers_py = listed.get<std::set<std::string>>();
  const std::vector<std::string>& ours = LayerEntry::Keys();
  EXPECT_EQ(std::set<std::string>(ours.begin(), ours.end()), layers_py);
  EXPECT_EQ(std::set<std::string>(ours.begin(), ours.end()).size(), ours.size()) << "each key listed once";
}

// Each constructor and setter, applied to a plain entry, adds the one key it names; together
// they reach every key the builder lists.
TEST(LayerEntryKeys, EachSetterWritesItsOneKeyAndTogetherTheyReachEvery) {
  using Step = std::function<LayerEntry()>;
  const std::vector<std::pair<std::string, Step>> steps = {
      {"path", [] { return LayerEntry::File("f"); }},
      {"path_hex", [] { return LayerEntry::File(EntryName::Bytes("\xff")); }},
      {"type", [] { return LayerEntry::Dir("f"); }},
      {"content", [] { return LayerEntry::File("f").Content("x"); }},
      {"content_hex", [] { return LayerEntry::File("f").ContentBytes(std::string("\x00\xff", 2)); }},
      {"zero_bytes", [] { return LayerEntry::File("f").ZeroBytes(1); }},
      {"fill_bytes", [] { return LayerEntry::File("f").FillBytes(1); }},
      {"sparse", [] { return LayerEntry::File("f").Sparse({{0, "x"}}); }},
      {"sparse_map", [] { return LayerEntry::File("f").SparseMap({{0, "x"}}); }},
      {"size", [] { return LayerEntry::File("f").Size(1); }},
      {"mode", [] { return LayerEntry::File("f").Mode(0600); }},
      {"uid", [] { return LayerEntry::File("f").Uid(1); }},
      {"gid", [] { return LayerEntry::File("f").Gid(1); }},
      {"mtime", [] { return LayerEntry::File("f").Mtime(1); }},
      {"major", [] { return LayerEntry::File("f").Major(1); }},
      {"minor", [] { return LayerEntry::File("f").Minor(1); }},
      {"xattrs", [] { return LayerEntry::File("f").Xattr("user.a", "v").Xattr("user.b", "w"); }},
      {"pax_bytes", [] { return LayerEntry::File("f").PaxBytes(1); }},
      {"pax", [] { return LayerEntry::File("f").Pax("mtime", "1").Pax("atime", "2"); }},
  };
  std::set<std::string> reached = {"target", "target_hex"};  // the link constructors, below
  for (const auto& [key, step] : steps) {
    std::set<std::string> keys = KeysOf(step());
    if (key == "path" || key == "path_hex") {
      EXPECT_EQ(keys, std::set<std::string>{key});
    } else if (key == "type") {
      EXPECT_EQ(keys, (std::set<std::string>{"path", "type"}));
    } else {
      EXPECT_EQ(keys, (std::set<std::string>{"path", key})) << key;
    }
    reached.insert(key);
  }
  EXPECT_EQ(KeysOf(LayerEntry::Symlink("s", "t")), (std::set<std::string>{"path", "type", "target"}));
  EXPECT_EQ(KeysOf(LayerEntry::Hardlink("h", EntryName::Bytes("\xfe"))),
            (std::set<std::string>{"path", "type", "target_hex"}));
  const std::vector<std::string>& all = LayerEntry::Keys();
  EXPECT_EQ(reached, std::set<std::string>(all.begin(), all.end()));
}

TEST(LayerEntryKeys, ValuesAreWhatLayersPyReads) {
  EXPECT_EQ(LayerEntry::File(EntryName::Bytes(std::string("a\0\xff", 3)), "ok").Json(),
            (json{{"path_hex", "6100ff"}, {"content", "ok"}}));
  EXPECT_EQ(LayerEntry::Char("dev/null").Major(1).Minor(3).Mode(0666).Json(),
            (json{{"path", "dev/null"}, {"type", "char"}, {"major", 1}, {"minor", 3}, {"mode", 0666}}));
  EXPECT_EQ(LayerEntry::File("s").Size(8192).Sparse({{0, "a"}, {4096, "b"}}).Json(),
            (json{{"path", "s"}, {"size", 8192}, {"sparse", {{0, "a"}, {4096, "b"}}}}));
  EXPECT_EQ(LayerEntry::File("m").Size(10).SparseMap({{2, "hi"}}).Json(),
            (json{{"path", "m"}, {"size", 10}, {"sparse_map", {{2, "6869"}}}}));
  EXPECT_EQ(LayerEntry::File("x").Xattr("user.a", "\x01").Pax("uid", "7").Json(),
            (json{{"path", "x"}, {"xattrs", {{"user.a", "01"}}}, {"pax", {{"uid", "7"}}}}));
  // A file's data is one of content, content_hex, zero_bytes, fill_bytes, sparse, sparse_map.
  EXPECT_EQ(LayerEntry::File("f", "text").ZeroBytes(5).Json(), (json{{"path", "f"}, {"zero_bytes", 5}}));
  LayerEntry entry = LayerEntry::File("f").FillBytes(3);
  entry.Content("again");
  EXPECT_EQ(entry.Json(), (json{{"path", "f"}, {"content", "again"}}));
  const json converted = LayerEntry::Fifo("p");
  EXPECT_EQ(converted, (json{{"path", "p"}, {"type", "fifo"}}));
}

// Every kind of entry and every setter, through layers.py: each builds.
TEST(LayerEntryKeys, LayersPyBuildsWhatTheBuilderWrites) {
  ScratchDir dir("banger-layer-entry");
  const std::vector<LayerEntry> entries = {
      LayerEntry::Dir("d").Mode(0700).Uid(1).Gid(2).Mtime(1234567890),
      LayerEntry::File("d/text", "hello").Xattr("user.note", std::string("\x00\xff", 2)).Pax("atime", "1.5"),
      LayerEntry::File(EntryName::Bytes("raw-\xff")).ContentBytes(std::string("\x00\x01", 2)),
      LayerEntry::File("zeros").ZeroBytes(10000),
      LayerEntry::File("filled").FillBytes(10).PaxBytes(100),
      LayerEntry::File("sparse").Size(1 << 20).Sparse({{0, "head"}, {512 << 10, "tail"}}),
      LayerEntry::File("mapped").Size(1 << 20).SparseMap({{100, "piece"}}),
      LayerEntry::Symlink("link", "d/text"),
      LayerEntry::Symlink("rawlink", EntryName::Bytes("\xfe")),
      LayerEntry::Hardlink("hard", "d/text"),
      LayerEntry::Char("null").Major(1).Minor(3),
      LayerEntry::Block("disk").Pax("SCHILY.devmajor", "8").Pax("SCHILY.devminor", "0"),
      LayerEntry::Fifo("pipe"),
  };
  CommandResult built = RunLayersPy({{"compression", "none"}, {"entries", entries}}, dir);
  ASSERT_EQ(built.exit_status, 0) << built.output;
  CommandResult listing = RunCommand("tar -tf " + dir.path() + "/layer 2>/dev/null | wc -l");
  EXPECT_EQ(listing.output, "13\n") << "one member per entry";
}

// A misspelt key is refused by name, not built into a quiet default.
TEST(LayerEntryKeys, LayersPyRefusesAnUnknownKeyByName) {
  ScratchDir dir("banger-layer-entry");
  CommandResult entry = RunLayersPy({{"entries", {{{"path", "a"}, {"contnet", "x"}}}}}, dir);
  EXPECT_NE(entry.exit_status, 0);
  EXPECT_NE(entry.output.find("unknown entry key(s) ['contnet']"), std::string::npos) << entry.output;
  CommandResult spec = RunLayersPy({{"compresion", "none"}, {"entries", json::array()}}, dir);
  EXPECT_NE(spec.exit_status, 0);
  EXPECT_NE(spec.output.find("unknown spec key(s) ['compresion']"), std::string::npos) << spec.output;
}

}  // namespace
}  // namespace banger::testing
