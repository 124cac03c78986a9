// The layer feed between a fetch and the unpacker, driven by hand with a real blob cache:
// the fetch's hooks (plan, download started, blob events) are called in the order a pull
// would call them, and what the feed sends is judged by who receives it. The real
// sandboxed banger-unpacker unpacks what it got; banger-sandbox-probe, which dies on any
// message but a ping, shows that nothing was sent.
#include "broker/pull/layer_feed.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "base/sha256.h"
#include "ipc/messages.h"
#include "ipc/tree_stream.h"
#include "security/spawn.h"
#include "tests/security/sandbox_fixture.h"
#include "tests/support/layer_entry.h"
#include "tests/support/test_support.h"
#include "tests/unpacker/unpack_harness.h"

namespace banger::broker {
namespace {

using nlohmann::json;
using testing::BuildLayer;
using testing::BuiltLayer;
using testing::Layer;
using testing::LayerEntry;
using testing::ScratchDir;

constexpr const char* kLayerType = "application/vnd.oci.image.layer.v1.tar+gzip";

UniqueFd Memfd(const char* name) { return UniqueFd(::memfd_create(name, MFD_CLOEXEC)); }

Result<security::SandboxedChild> StartUnpacker() {
  security::SpawnOptions spawn;
  spawn.executable = std::string(BANGER_BIN_DIR) + "/banger-unpacker";
  spawn.name = "banger-unpacker";
  spawn.spec = security::SpecForCurrentBroker(security::ProcessKind::kUnpacker);
  return security::SandboxedChild::Spawn(std::move(spawn));
}

// The unpacker's unpack-done, or its error; a minute is ample for these layers.
Result<json> WaitForDone(security::SandboxedChild& unpacker) {
  for (;;) {
    BANGER_ASSIGN_OR_RETURN(ipc::Message reply,
                            unpacker.ReceiveExpecting({ipc::MessageType::kUnpackProgress, ipc::MessageType::kUnpackDone},
                                                      60000));
    if (reply.type == ipc::MessageType::kUnpackDone) return reply.Json();
  }
}

// Waits for the unpacker's progress report on `layer` (it reports every 8 MiB).
Result<void> WaitForProgressOn(security::SandboxedChild& unpacker, uint64_t layer) {
  for (;;) {
    BANGER_ASSIGN_OR_RETURN(ipc::Message reply, unpacker.ReceiveExpecting({ipc::MessageType::kUnpackProgress}, 60000));
    BANGER_ASSIGN_OR_RETURN(ipc::UnpackProgress progress, ipc::Decode<ipc::UnpackProgress>(reply.body));
    if (progress.layer == layer) return {};
  }
}

// Top-level names of a finished tree stream -> their sizes (0 for what is no file).
std::map<std::string, uint64_t> TopLevel(int tree_fd) {
  std::map<std::string, uint64_t> names;
  ::lseek(tree_fd, 0, SEEK_SET);
  ipc::TreeStreamReader reader(tree_fd);
  auto summary = reader.ReadSummary();
  EXPECT_TRUE(summary) << summary.error().message;
  if (!summary) return names;
  for (;;) {
    auto entry = reader.Next();
    EXPECT_TRUE(entry) << entry.error().message;
    if (!entry || !*entry) return names;
    if ((*entry)->parent == ipc::kRootInode) {
      names[(*entry)->name] = (*entry)->kind == ipc::EntryKind::kRegular ? (*entry)->size : 0;
    }
  }
}

class LayerFeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cache = BlobCache::Open(dir_.path() + "/cache");
    ASSERT_TRUE(cache) << cache.error().message;
    cache_.emplace(std::move(*cache));
    // Layer 1 replaces shared.txt and whites out one.txt of layer 0, after 16 MiB of
    // zeros in big/ (so the unpacker reports progress on it before its end).
    layers_.push_back(BuildLayer(Layer({LayerEntry::File("one.txt", "1"), LayerEntry::File("shared.txt", "old")}), dir_));
    std::vector<LayerEntry> entries = {LayerEntry::Dir("big")};
    for (int i = 0; i < 8; ++i) entries.push_back(LayerEntry::File("big/f" + std::to_string(i)).ZeroBytes(2 << 20));
    entries.push_back(LayerEntry::File("two.txt", "22"));
    entries.push_back(LayerEntry::File("shared.txt", "new!"));
    entries.push_back(LayerEntry::File(".wh.one.txt", ""));
    layers_.push_back(BuildLayer(Layer(entries), dir_));
    json diff_ids = json::array();
    for (const BuiltLayer& l : layers_) diff_ids.push_back(l.diff_id);
    config_bytes_ = json{{"architecture", "amd64"}, {"os", "linux"},
                         {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}}
                        .dump();
    image_.config = {Sha256DigestOf(config_bytes_), config_bytes_.size(),
                     "application/vnd.oci.image.config.v1+json", false};
    for (const BuiltLayer& l : layers_) {
      image_.layers.push_back({l.digest, testing::ReadFile(l.path).size(), kLayerType, false});
    }
  }

  std::string LayerBytes(size_t i) const { return testing::ReadFile(layers_[i].path); }
  // Writes a blob into an unnamed cache file, as a download does, and links it in.
  void Land(const FetchedBlob& blob, const std::string& bytes) {
    auto incoming = cache_->Begin(blob.digest, blob.size, "blob");
    ASSERT_TRUE(incoming) << incoming.error().message;
    ASSERT_TRUE(incoming->Append(bytes));
    auto committed = incoming->Commit();
    ASSERT_TRUE(committed) << committed.error().message;
  }
  // A feed whose unpacker is `child`; the spool and tree stream stay readable here.
  LayerFeed MakeFeed(security::SandboxedChild* child) {
    spool_ = Memfd("spool");
    tree_ = Memfd("tree");
    auto spool = DupCloexec(spool_.get());
    auto tree = DupCloexec(tree_.get());
    EXPECT_TRUE(spool && tree);
    return LayerFeed(*cache_, [this, child]() -> Result<security::SandboxedChild*> {
      ++unpacker_asked_;
      return child;
    }, ipc::UnpackRequest{}, std::move(*spool), std::move(*tree));
  }
  static FetchEvent Event(FetchEvent::Kind kind, const FetchedBlob& blob) {
    return FetchEvent{kind, blob.digest, blob.size, blob.size};
  }

  ScratchDir dir_{"banger-feed"};
  std::optional<BlobCache> cache_;
  std::vector<BuiltLayer> layers_;
  std::string config_bytes_;
  FetchedImage image_;
  UniqueFd spool_, tree_;
  int unpacker_asked_ = 0;
};

TEST_F(LayerFeedTest, BlobsGoOverAsTheyLandAndTheUnpackerFinishesTheImage) {
  auto unpacker = StartUnpacker();
  ASSERT_TRUE(unpacker) << unpacker.error().message;
  LayerFeed feed = MakeFeed(&*unpacker);
  feed.OnPlan(image_);  // nothing cached yet
  Land(image_.config, config_bytes_);
  feed.OnEvent(Event(FetchEvent::kDone, image_.config));
  Land(image_.layers[0], LayerBytes(0));
  feed.OnEvent(Event(FetchEvent::kCached, image_.layers[0]));
  Land(image_.layers[1], LayerBytes(1));
  feed.OnEvent(Event(FetchEvent::kDone, image_.layers[1]));
  auto finished = feed.Finish(image_);
  ASSERT_TRUE(finished) << finished.error().message;
  EXPECT_GT(unpacker_asked_, 0);

  auto done = WaitForDone(*unpacker);
  ASSERT_TRUE(done) << done.error().message;
  ASSERT_TRUE(unpacker->Shutdown(10000));
  // Layer 1 went over after layer 0, whole: its whiteout and its shared.txt won.
  const std::map<std::string, uint64_t> expected = {{"big", 0}, {"shared.txt", 4}, {"two.txt", 2}};
  EXPECT_EQ(TopLevel(tree_.get()), expected);
}

TEST_F(LayerFeedTest, ALayerStillDownloadingIsReadAsItGrowsAndNeverNeedsTheCache) {
  auto unpacker = StartUnpacker();
  ASSERT_TRUE(unpacker) << unpacker.error().message;
  LayerFeed feed = MakeFeed(&*unpacker);
  Land(image_.config, config_bytes_);
  Land(image_.layers[0], LayerBytes(0));
  feed.OnPlan(image_);
  feed.OnEvent(Event(FetchEvent::kCached, image_.config));
  feed.OnEvent(Event(FetchEvent::kCached, image_.layers[0]));
  // Layer 1's download starts into an unnamed cache file, which fills afterwards and is
  // never linked in: only the feed's view of the filling file can give it to the unpacker.
  auto filling = cache_->Begin(image_.layers[1].digest, image_.layers[1].size, "layer");
  ASSERT_TRUE(filling) << filling.error().message;
  feed.OnDownloadStarted(image_.layers[1].digest, filling->fd());
  // Three quarters arrive; the unpacker reads into them (its progress report on layer 1
  // says so), then waits at their end for the rest instead of taking it for the end.
  const std::string bytes = LayerBytes(1);
  const size_t cut = bytes.size() * 3 / 4;
  ASSERT_TRUE(filling->Append(bytes.substr(0, cut)));
  auto reading = WaitForProgressOn(*unpacker, 1);
  ASSERT_TRUE(reading) << reading.error().message;
  ASSERT_TRUE(filling->Append(bytes.substr(cut)));

  auto done = WaitForDone(*unpacker);
  ASSERT_TRUE(done) << done.error().message;
  ASSERT_TRUE(unpacker->Shutdown(10000));
  const std::map<std::string, uint64_t> expected = {{"big", 0}, {"shared.txt", 4}, {"two.txt", 2}};
  EXPECT_EQ(TopLevel(tree_.get()), expected);
  EXPECT_FALSE(cache_->Contains(image_.layers[1].digest, image_.layers[1].size));
}

// A layer whose download has not started does not hold back the ones before it: the
// unpacker replays layer 0 (its report at the layer's end says so) before layer 2 is
// handed over at all, as when the last of many layers waits for a free download slot.
// Each layer is needed two layers ahead, when its window is reserved.
TEST_F(LayerFeedTest, TheUnpackerReplaysTheFirstLayerBeforeTheLastIsHandedOver) {
  layers_.push_back(BuildLayer(Layer({LayerEntry::File("three.txt", "333")}), dir_));
  json diff_ids = json::array();
  for (const BuiltLayer& l : layers_) diff_ids.push_back(l.diff_id);
  config_bytes_ = json{{"architecture", "amd64"}, {"os", "linux"},
                       {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}}
                      .dump();
  image_.config = {Sha256DigestOf(config_bytes_), config_bytes_.size(), "application/vnd.oci.image.config.v1+json",
                   false};
  image_.layers.push_back({layers_[2].digest, LayerBytes(2).size(), kLayerType, false});

  auto unpacker = StartUnpacker();
  ASSERT_TRUE(unpacker) << unpacker.error().message;
  LayerFeed feed = MakeFeed(&*unpacker);
  Land(image_.config, config_bytes_);
  Land(image_.layers[0], LayerBytes(0));
  Land(image_.layers[1], LayerBytes(1));
  feed.OnPlan(image_);
  for (const FetchedBlob* blob : {&image_.config, &image_.layers[0], &image_.layers[1]}) {
    feed.OnEvent(Event(FetchEvent::kCached, *blob));
  }
  auto reading = WaitForProgressOn(*unpacker, 0);
  ASSERT_TRUE(reading) << "nothing replayed while the last layer was not handed over: " << reading.error().message;

  Land(image_.layers[2], LayerBytes(2));
  feed.OnEvent(Event(FetchEvent::kDone, image_.layers[2]));
  auto finished = feed.Finish(image_);
  ASSERT_TRUE(finished) << finished.error().message;
  auto done = WaitForDone(*unpacker);
  ASSERT_TRUE(done) << done.error().message;
  ASSERT_TRUE(unpacker->Shutdown(10000));
  const std::map<std::string, uint64_t> expected = {{"big", 0}, {"shared.txt", 4}, {"three.txt", 3}, {"two.txt", 2}};
  EXPECT_EQ(TopLevel(tree_.get()), expected);
}

TEST_F(LayerFeedTest, NothingReachesTheUnpackerBeforeTheConfigIsInTheCache) {
  auto probe = testing::StartProbe(testing::Probe(security::ProcessKind::kUnpacker));
  ASSERT_TRUE(probe) << probe.error().message;
  LayerFeed feed = MakeFeed(&*probe);
  feed.OnPlan(image_);
  Land(image_.layers[0], LayerBytes(0));
  feed.OnEvent(Event(FetchEvent::kDone, image_.layers[0]));
  auto filling = cache_->Begin(image_.layers[1].digest, image_.layers[1].size, "layer");
  ASSERT_TRUE(filling);
  feed.OnDownloadStarted(image_.layers[1].digest, filling->fd());
  auto poked = testing::Poke(*probe);
  ASSERT_TRUE(poked) << "the probe got something before the config was cached: " << poked.error().message;

  // The same probe notices a send: once the config lands, unpack-begin goes and it dies.
  Land(image_.config, config_bytes_);
  feed.OnEvent(Event(FetchEvent::kDone, image_.config));
  EXPECT_FALSE(testing::Poke(*probe)) << "the config landed and nothing was sent";
}

TEST_F(LayerFeedTest, FinishNamesTheConfigWhenItNeverReachedTheCache) {
  auto probe = testing::StartProbe(testing::Probe(security::ProcessKind::kUnpacker));
  ASSERT_TRUE(probe) << probe.error().message;
  LayerFeed feed = MakeFeed(&*probe);
  Land(image_.layers[0], LayerBytes(0));
  auto finished = feed.Finish(image_);  // without OnPlan, as an offline pull calls it
  ASSERT_FALSE(finished);
  EXPECT_EQ(finished.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(finished.error().message, "config " + image_.config.digest + " left the cache");
  EXPECT_TRUE(testing::Poke(*probe)) << "layers were sent without unpack-begin";
}

TEST_F(LayerFeedTest, FinishNamesALayerThatLeftTheCache) {
  auto unpacker = StartUnpacker();
  ASSERT_TRUE(unpacker) << unpacker.error().message;
  LayerFeed feed = MakeFeed(&*unpacker);
  Land(image_.config, config_bytes_);
  Land(image_.layers[0], LayerBytes(0));  // layer 1 never lands (a prune took it)
  auto finished = feed.Finish(image_);
  ASSERT_FALSE(finished) << "Finish passed with a layer missing";
  EXPECT_EQ(finished.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(finished.error().message, "layer " + image_.layers[1].digest + " left the cache");
}

TEST_F(LayerFeedTest, AnUnpackerThatCannotStartIsTheErrorFinishReturns) {
  LayerFeed feed(*cache_, []() -> Result<security::SandboxedChild*> {
    return Error{ErrorCode::kChildFailed, "banger-unpacker exited with status 70"};
  }, ipc::UnpackRequest{}, Memfd("spool"), Memfd("tree"));
  Land(image_.config, config_bytes_);
  feed.OnPlan(image_);  // the first failure is kept
  auto finished = feed.Finish(image_);
  ASSERT_FALSE(finished);
  EXPECT_EQ(finished.error().code, ErrorCode::kChildFailed);
  EXPECT_EQ(finished.error().message, "banger-unpacker exited with status 70");
}

}  // namespace
}  // namespace banger::broker
