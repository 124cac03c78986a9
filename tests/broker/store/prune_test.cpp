// `image cache prune` on a cache built by hand in a scratch directory: what a live lease
// holds stays, everything else goes and is counted, and a dry run only counts.
#include "broker/store/prune.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "base/digest.h"
#include "base/fd.h"
#include "base/sha256.h"
#include "broker/store/blob_cache.h"
#include "broker/store/cache_lease.h"
#include "tests/support/test_support.h"

namespace banger::broker {
namespace {

using testing::ScratchDir;

using testing::Exists;

void WriteFile(const std::string& path, const std::string& content) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  ASSERT_TRUE(fd) << path;
  ASSERT_TRUE(WriteAll(fd.get(), content, path));
}

class PruneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = CacheLayout::Open(root_.path() + "/cache");
    ASSERT_TRUE(opened) << opened.error().message;
    layout_.emplace(std::move(*opened));
  }
  const CacheLayout& layout() const { return *layout_; }

  // A blob written straight under its name, as a finished download leaves it.
  std::string PutBlob(const std::string& content) {
    const std::string digest = Sha256DigestOf(content);
    WriteFile(layout().blobs_dir() + "/" + std::string(DigestHex(digest)), content);
    return digest;
  }
  // A blob through the cache's own path: an unnamed file, verified and linked in.
  std::string CommitBlob(const std::string& content) {
    const BlobCache cache(layout());
    const std::string digest = Sha256DigestOf(content);
    auto incoming = cache.Begin(digest, content.size(), "layer");
    EXPECT_TRUE(incoming) << incoming.error().message;
    if (!incoming) return "";
    EXPECT_TRUE(incoming->Append(content));
    auto committed = incoming->Commit();
    EXPECT_TRUE(committed) << committed.error().message;
    return digest;
  }
  std::string PathOf(const std::string& digest) const { return layout().BlobPath(digest); }

  ScratchDir root_{"banger-prune"};
  std::optional<CacheLayout> layout_;
};

TEST_F(PruneTest, BlobsALiveLeaseHoldsAreKeptAndTheRestRemoved) {
  const std::string held = CommitBlob("held by a running pull");
  const std::string loose1 = PutBlob("nobody holds me");
  const std::string loose2 = CommitBlob("nor me, either");
  auto lease = CacheLease::Take(layout());
  ASSERT_TRUE(lease) << lease.error().message;
  ASSERT_TRUE((*lease)->Hold({held}));

  auto report = PruneCache(layout(), /*dry_run=*/false);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->kept_in_use, 1u);
  EXPECT_EQ(report->blobs, 2u);
  EXPECT_EQ(report->bytes, std::string("nobody holds me").size() + std::string("nor me, either").size());
  EXPECT_EQ(report->unpacked, 0u);
  EXPECT_TRUE(Exists(PathOf(held))) << "a prune removed a blob a running pull holds";
  EXPECT_FALSE(Exists(PathOf(loose1)));
  EXPECT_FALSE(Exists(PathOf(loose2)));
}

TEST_F(PruneTest, ABlobHeldOnlyByADeadPullIsRemovedWithItsLease) {
  const std::string blob = PutBlob("the pull that wanted me died");
  ASSERT_EQ(::mkdir(layout().leases_dir().c_str(), 0700), 0);
  const std::string dead = layout().leases_dir() + "/4242-dead";
  WriteFile(dead, blob + "\n");  // nobody flocks it

  auto report = PruneCache(layout(), /*dry_run=*/false);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->kept_in_use, 0u);
  EXPECT_EQ(report->blobs, 1u);
  EXPECT_FALSE(Exists(PathOf(blob)));
  EXPECT_FALSE(Exists(dead)) << "a dead pull's lease outlived the prune";
}

TEST_F(PruneTest, ADryRunRemovesNothingAndReportsWhatARealOneWould) {
  const std::string held = PutBlob("held");
  const std::string loose = PutBlob("loose bytes");
  ASSERT_EQ(::mkdir(layout().unpacked_dir().c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((layout().unpacked_dir() + "/k1").c_str(), 0700), 0);
  WriteFile(layout().unpacked_dir() + "/k1/spool", std::string(10000, 's'));
  ASSERT_EQ(::mkdir(layout().plans_dir().c_str(), 0700), 0);
  WriteFile(layout().PlanPath("abc-linux-amd64"), "{}");
  ASSERT_EQ(::mkdir(layout().leases_dir().c_str(), 0700), 0);
  WriteFile(layout().leases_dir() + "/4242-dead", loose + "\n");
  auto lease = CacheLease::Take(layout());
  ASSERT_TRUE(lease);
  ASSERT_TRUE((*lease)->Hold({held}));

  auto dry = PruneCache(layout(), /*dry_run=*/true);
  ASSERT_TRUE(dry) << dry.error().message;
  EXPECT_EQ(dry->blobs, 1u);
  EXPECT_EQ(dry->kept_in_use, 1u);
  EXPECT_EQ(dry->unpacked, 1u);
  EXPECT_GE(dry->bytes, std::string("loose bytes").size() + 10000);
  for (const std::string& path : {PathOf(held), PathOf(loose), layout().unpacked_dir() + "/k1/spool",
                                  layout().PlanPath("abc-linux-amd64"), layout().leases_dir() + "/4242-dead"}) {
    EXPECT_TRUE(Exists(path)) << "a dry run removed " << path;
  }

  auto real = PruneCache(layout(), /*dry_run=*/false);
  ASSERT_TRUE(real) << real.error().message;
  EXPECT_EQ(real->blobs, dry->blobs);
  EXPECT_EQ(real->kept_in_use, dry->kept_in_use);
  EXPECT_EQ(real->unpacked, dry->unpacked);
  EXPECT_EQ(real->bytes, dry->bytes) << "the dry run's figure is not what the prune freed";
  EXPECT_FALSE(Exists(PathOf(loose)));
}

TEST_F(PruneTest, UnpackedEntriesAreRemovedAndCounted) {
  for (const char* key : {"k1", "k2"}) {
    const std::string entry = layout().unpacked_dir() + "/" + key;
    ASSERT_TRUE(std::filesystem::create_directories(entry + "/deeper"));
    WriteFile(entry + "/spool", std::string(5000, 'x'));
    WriteFile(entry + "/tree", "t");
    WriteFile(entry + "/deeper/unpacked.json", "{}");
  }
  auto report = PruneCache(layout(), /*dry_run=*/false);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->unpacked, 2u);
  EXPECT_EQ(report->blobs, 0u);
  EXPECT_GE(report->bytes, 10000u) << "the unpacked entries' bytes were not counted";
  auto left = ListDirectory(layout().unpacked_dir());
  ASSERT_TRUE(left);
  EXPECT_TRUE(left->empty()) << left->size() << " unpacked entries survived the prune";
}

TEST_F(PruneTest, RememberedPlansAreRemoved) {
  ASSERT_EQ(::mkdir(layout().plans_dir().c_str(), 0700), 0);
  WriteFile(layout().PlanPath("aaaa-"), "{}");
  WriteFile(layout().PlanPath("bbbb-linux-arm64"), "{}");
  auto report = PruneCache(layout(), /*dry_run=*/false);
  ASSERT_TRUE(report) << report.error().message;
  auto left = ListDirectory(layout().plans_dir());
  ASSERT_TRUE(left);
  EXPECT_TRUE(left->empty()) << left->size() << " plan records survived the prune";
}

TEST_F(PruneTest, AnEmptyCacheGivesAnEmptyReport) {
  auto report = PruneCache(layout(), /*dry_run=*/false);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->bytes, 0u);
  EXPECT_EQ(report->blobs, 0u);
  EXPECT_EQ(report->kept_in_use, 0u);
  EXPECT_EQ(report->unpacked, 0u);
}

TEST(Prune, ACacheThatDoesNotExistGivesAnEmptyReportAndCreatesNothing) {
  ScratchDir root("banger-prune");
  const std::string missing = root.path() + "/never-made";
  auto layout = CacheLayout::At(missing);
  ASSERT_TRUE(layout) << layout.error().message;
  for (bool dry_run : {true, false}) {
    auto report = PruneCache(*layout, dry_run);
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_EQ(report->bytes, 0u);
    EXPECT_EQ(report->blobs, 0u);
    EXPECT_EQ(report->kept_in_use, 0u);
    EXPECT_EQ(report->unpacked, 0u);
    EXPECT_FALSE(Exists(missing)) << "a prune created the cache it had nothing to do in";
  }
}

}  // namespace
}  // namespace banger::broker
