// The unpacker end to end, sandboxed as in a pull: layers built by the fixture builder,
// replayed by banger-unpacker, the flattened tree decoded and checked entry by entry.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <functional>
#include <utility>

#include <gtest/gtest.h>

#include "tests/unpacker/unpack_harness.h"

namespace banger::testing {
namespace {

using nlohmann::json;
using ipc::EntryKind;

class Replay : public ::testing::Test {
 protected:
  BuiltLayer Build(const json& spec) { return BuildLayer(spec, dir_); }
  Result<UnpackedTree> UnpackLayers(std::vector<json> specs, UnpackOptions options = {}) {
    std::vector<BuiltLayer> layers;
    for (const auto& s : specs) layers.push_back(Build(s));
    return Unpack(layers, options);
  }
  ScratchDir dir_{"banger-layers"};
};

const std::string kCapability = std::string("\x01\x00\x00\x02\x00\x20\x00\x00", 8) + std::string(12, '\0');

json FidelityLayer(const std::string& compression) {
  return Layer({LayerEntry::Dir("etc").Mode(0755),
                LayerEntry::File("etc/passwd", "root:x:0:0::/root:/bin/sh\n").Mode(0644),
                LayerEntry::File("etc/shadow", "root:*:1::::::\n").Mode(0640).Gid(42),
                LayerEntry::File("usr/bin/sudo", "#!sudo").Mode(04755),
                LayerEntry::File("usr/bin/wall", "wall").Mode(02755).Gid(5),
                LayerEntry::Dir("tmp").Mode(01777),
                LayerEntry::File("usr/bin/ping", "ping").Mode(0755).Xattr("security.capability", kCapability)
                    .Xattr("user.note", "hello"),
                LayerEntry::Dir("home/alice").Mode(0700).Uid(1000).Gid(1000),
                LayerEntry::File("home/alice/.profile", "export X=1\n").Uid(1000).Gid(1000).Mtime(1234567890),
                LayerEntry::Symlink("bin", "usr/bin"),
                LayerEntry::Symlink("etc/localtime", "/usr/share/zoneinfo/UTC"),
                LayerEntry::Hardlink("usr/bin/sudoedit", "usr/bin/sudo"),
                LayerEntry::Char("dev/null").Major(1).Minor(3).Mode(0666),
                LayerEntry::Block("dev/sda").Major(8).Minor(0).Mode(0660).Gid(6),
                LayerEntry::Fifo("run/initctl").Mode(0600)},
               compression);
}

void ExpectFidelity(const UnpackedTree& tree) {
  const ipc::TreeEntry* passwd = tree.Find("/etc/passwd");
  ASSERT_NE(passwd, nullptr);
  EXPECT_EQ(passwd->kind, EntryKind::kRegular);
  EXPECT_EQ(passwd->mode, 0644u);
  EXPECT_EQ(tree.contents.at("/etc/passwd"), "root:x:0:0::/root:/bin/sh\n");
  EXPECT_EQ(tree.Find("/etc/shadow")->gid, 42u);
  EXPECT_EQ(tree.Find("/etc/shadow")->mode, 0640u);
  EXPECT_EQ(tree.Find("/usr/bin/sudo")->mode, 04755u) << "setuid survives";
  EXPECT_EQ(tree.Find("/usr/bin/wall")->mode, 02755u) << "setgid survives";
  EXPECT_EQ(tree.Find("/tmp")->mode, 01777u) << "sticky survives";
  const ipc::TreeEntry* ping = tree.Find("/usr/bin/ping");
  ASSERT_NE(ping, nullptr);
  ASSERT_EQ(ping->xattrs.size(), 2u);
  std::map<std::string, std::string> xattrs;
  for (const auto& x : ping->xattrs) xattrs[x.name] = x.value;
  EXPECT_EQ(xattrs["security.capability"], kCapability) << "binary xattr values survive";
  EXPECT_EQ(xattrs["user.note"], "hello");
  EXPECT_EQ(tree.Find("/home/alice")->uid, 1000u);
  EXPECT_EQ(tree.Find("/home/alice")->mode, 0700u);
  EXPECT_EQ(tree.Find("/home/alice/.profile")->mtime.sec, 1234567890);
  EXPECT_EQ(tree.Find("/bin")->kind, EntryKind::kSymlink);
  EXPECT_EQ(tree.Find("/bin")->link_target, "usr/bin");
  EXPECT_EQ(tree.Find("/etc/localtime")->link_target, "/usr/share/zoneinfo/UTC") << "absolute targets kept as written";
  EXPECT_EQ(tree.hardlinks.at("/usr/bin/sudoedit"), "/usr/bin/sudo");
  const ipc::TreeEntry* null = tree.Find("/dev/null");
  EXPECT_EQ(null->kind, EntryKind::kCharDevice);
  EXPECT_EQ(null->rdev_major, 1u);
  EXPECT_EQ(null->rdev_minor, 3u);
  EXPECT_EQ(null->mode, 0666u);
  EXPECT_EQ(tree.Find("/dev/sda")->kind, EntryKind::kBlockDevice);
  EXPECT_EQ(tree.Find("/dev/sda")->rdev_major, 8u);
  EXPECT_EQ(tree.Find("/run/initctl")->kind, EntryKind::kFifo);
  EXPECT_EQ(tree.Find("/usr")->mode, 0755u) << "an undeclared parent is 0755";
  EXPECT_FALSE(tree.Has("/.wh.anything"));
}

class EveryCompression : public Replay, public ::testing::WithParamInterface<const char*> {};

TEST_P(EveryCompression, FullFidelity) {
  auto tree = UnpackLayers({FidelityLayer(GetParam())});
  ASSERT_TRUE(tree) << tree.error().message;
  ExpectFidelity(*tree);
}

INSTANTIATE_TEST_SUITE_P(Formats, EveryCompression, ::testing::Values("gzip", "gzip-multi", "zstd", "none"));

// Incompressible bytes, so a blob is as large as its content.
std::string Noise(size_t size, uint32_t seed) {
  std::string noise;
  noise.reserve(size);
  uint32_t x = seed;
  for (size_t i = 0; i < size; ++i) {
    x = x * 1103515245u + 12345u;
    noise += static_cast<char>(x >> 24);
  }
  return noise;
}

std::string WholeFd(int fd) { return ReadFile("/proc/self/fd/" + std::to_string(fd)); }

// The pull hands over a layer while it downloads: the unpacker reads what has arrived,
// waits for the rest instead of calling the layer truncated, and ends as with a whole file.
TEST_F(Replay, ALayerStillDownloadingIsReadAsItArrives) {
  const std::string noise = Noise(3 << 20, 12345);
  const BuiltLayer whole =
      Build(Layer({LayerEntry::File("big").ContentBytes(noise), LayerEntry::File("etc/tail", "the last file\n")}));
  auto expected = Unpack({whole});
  ASSERT_TRUE(expected) << expected.error().message;
  const std::string blob = ReadFile(whole.path);
  ASSERT_GT(blob.size(), 3u << 20);

  BuiltLayer downloading = whole;
  downloading.path = dir_.path() + "/downloading";
  UniqueFd file(::open(downloading.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  ASSERT_TRUE(file);
  UnpackOptions options;
  options.grows_to = {blob.size()};
  UniqueFd spool(::memfd_create("spool", MFD_CLOEXEC)), tree(::memfd_create("tree", MFD_CLOEXEC));
  auto child = StartUnpacker({downloading}, options, spool.get(), tree.get());
  ASSERT_TRUE(child) << child.error().message;

  const size_t half = blob.size() / 2;
  ASSERT_EQ(::write(file.get(), blob.data(), half), static_cast<ssize_t>(half));
  auto bytes_read = [&] {
    const std::string io = ReadFile("/proc/" + std::to_string(child->pid()) + "/io");
    const size_t at = io.find("rchar: ");
    return at == std::string::npos ? uint64_t{0} : std::stoull(io.substr(at + 7));
  };
  EXPECT_TRUE(WaitFor([&] { return bytes_read() >= half - (64 << 10); }, 10000))
      << "the unpacker read " << bytes_read() << " of the " << half << " bytes already there";
  auto early = child->ReceiveExpecting({ipc::MessageType::kUnpackProgress, ipc::MessageType::kUnpackDone}, 500);
  ASSERT_FALSE(early) << "the unpacker finished on half a layer";
  EXPECT_EQ(early.error().code, ErrorCode::kTimeout) << early.error().message;

  ASSERT_EQ(::write(file.get(), blob.data() + half, blob.size() - half), static_cast<ssize_t>(blob.size() - half));
  auto done = WaitForUnpack(*child);
  ASSERT_TRUE(done) << done.error().message;
  EXPECT_EQ((*done)["entries"], expected->done["entries"]);
  EXPECT_EQ((*done)["data_bytes"], expected->done["data_bytes"]);
  EXPECT_EQ((*done)["uncompressed_bytes"], expected->done["uncompressed_bytes"]);
  EXPECT_EQ((*done)["spool_bytes"], expected->done["spool_bytes"]);
}

// Layers are read two at a time: while layer 0 still downloads, layer 1 is read and its
// data written (into its window, then it waits for its turn). And where its data lands
// does not depend on which ran first: the region and the tree come out byte for byte as
// when layer 0 is whole from the start.
TEST_F(Replay, TheNextLayerIsReadWhileOneStillDownloadsAndLandsTheSame) {
  const std::string marker = "read ahead of the layer before it\n";
  std::string ahead;
  while (ahead.size() < (64 << 10)) ahead += marker;
  const BuiltLayer first = Build(Layer({LayerEntry::File("big").ContentBytes(Noise(3 << 20, 7)),
                                        LayerEntry::File("etc/tail", "the last file\n")}));
  // More data than its blob: it fills its window and goes on after layer 0's data.
  const BuiltLayer second = Build(Layer({LayerEntry::File("opt/ahead").ContentBytes(ahead),
                                         LayerEntry::File("opt/noise").ContentBytes(Noise(256 << 10, 9)),
                                         LayerEntry::File("opt/more").ContentBytes(ahead + "more")}));
  auto unpack = [&](const std::vector<BuiltLayer>& layers, const UnpackOptions& options,
                    const std::function<void(security::SandboxedChild&, int spool)>& meanwhile)
      -> std::pair<std::string, std::string> {
    UniqueFd spool(::memfd_create("spool", MFD_CLOEXEC)), tree(::memfd_create("tree", MFD_CLOEXEC));
    auto child = StartUnpacker(layers, options, spool.get(), tree.get());
    EXPECT_TRUE(child) << child.error().message;
    if (!child) return {};
    if (meanwhile) meanwhile(*child, spool.get());
    auto done = WaitForUnpack(*child);
    EXPECT_TRUE(done) << done.error().message;
    return {WholeFd(spool.get()), WholeFd(tree.get())};
  };
  const auto in_order = unpack({first, second}, {}, nullptr);
  ASSERT_NE(in_order.first.find(marker), std::string::npos);

  const std::string blob = ReadFile(first.path);
  BuiltLayer downloading = first;
  downloading.path = dir_.path() + "/downloading";
  UniqueFd file(::open(downloading.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  ASSERT_TRUE(file);
  const size_t half = blob.size() / 2;
  ASSERT_EQ(::write(file.get(), blob.data(), half), static_cast<ssize_t>(half));
  UnpackOptions options;
  options.grows_to = {blob.size(), 0};
  const auto ahead_first = unpack({downloading, second}, options, [&](security::SandboxedChild&, int spool) {
    EXPECT_TRUE(WaitFor([&] { return WholeFd(spool).find(marker) != std::string::npos; }, 20000))
        << "layer 1's data was not written while layer 0 downloaded";
    ASSERT_EQ(::write(file.get(), blob.data() + half, blob.size() - half), static_cast<ssize_t>(blob.size() - half));
  });
  EXPECT_TRUE(ahead_first.first == in_order.first) << "the data region differs";
  EXPECT_TRUE(ahead_first.second == in_order.second) << "the tree stream differs";
}

// A layer that fails ends the unpack with its own error, though the layer read ahead of
// it is still waiting for a download that never comes (it is stopped, not waited for).
TEST_F(Replay, AFailingLayerEndsTheUnpackThoughTheNextOneStillDownloads) {
  const BuiltLayer first = Build(Layer({LayerEntry::File("etc/a", "a\n")}));
  const BuiltLayer second = Build(Layer({LayerEntry::File("etc/b", "b\n")}));
  BuiltLayer never = second;
  never.path = dir_.path() + "/never";
  UniqueFd file(::open(never.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  ASSERT_TRUE(file);
  UnpackOptions options;
  options.grows_to = {0, ReadFile(second.path).size()};
  options.diff_ids = std::vector<std::string>{"sha256:" + std::string(64, '0'), second.diff_id};
  auto tree = Unpack({first, never}, options);
  ASSERT_FALSE(tree);
  EXPECT_NE(tree.error().message.find("layer " + first.digest), std::string::npos) << tree.error().message;
  EXPECT_NE(tree.error().message.find("(diff_id)"), std::string::npos) << tree.error().message;
}

}  // namespace
}  // namespace banger::testing
