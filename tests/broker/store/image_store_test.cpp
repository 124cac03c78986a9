// The image store: staging directories that clean up after themselves, Publish as the
// one step that makes an image visible (one name, one image), and a failed directory
// fsync after the rename that leaves the image published with a warning.
#include "broker/store/image_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "tests/support/test_support.h"

namespace banger::broker {
namespace {

using nlohmann::json;
using testing::ReadFile;
using testing::ScratchDir;

using testing::Exists;

// Names in the images directory that are not published images.
std::vector<std::string> Leftovers(const ImageStore& store) {
  std::vector<std::string> found;
  auto names = ListDirectory(store.images_dir());
  for (const std::string& name : names ? *names : std::vector<std::string>()) {
    if (name.ends_with(".staging") || name.ends_with(".claim")) found.push_back(name);
  }
  return found;
}

class ImageStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(nullptr); }
  void Reopen(ImageStore::SyncDirectory sync) {
    auto opened = ImageStore::Open(root_.path() + "/state", std::move(sync));
    ASSERT_TRUE(opened) << opened.error().message;
    store_.emplace(std::move(*opened));
  }
  const ImageStore& store() const { return *store_; }

  // A staging directory with its rootfs.ext4, as the imager leaves it.
  Staging Stage() {
    auto staging = store().BeginStaging();
    if (!staging) throw std::runtime_error(staging.error().message);
    auto rootfs = staging->CreateRootfs();
    if (!rootfs || !WriteAll(rootfs->get(), "ext4 bytes", "rootfs")) throw std::runtime_error("rootfs");
    return std::move(*staging);
  }
  Result<Published> PublishAs(const std::string& name, bool replace = false) {
    return store().Publish(Stage(), json{{"name", name}, {"reference", "example/" + name}}, replace);
  }

  ScratchDir root_{"banger-images"};
  std::optional<ImageStore> store_;
};

TEST_F(ImageStoreTest, BeginStagingMakesALockedStagingDirectory) {
  auto staging = store().BeginStaging();
  ASSERT_TRUE(staging) << staging.error().message;
  EXPECT_EQ(staging->dir(), store().images_dir() + "/" + staging->id() + ".staging");
  EXPECT_TRUE(Exists(staging->dir()));
  UniqueFd lock(::open((staging->dir() + "/.lock").c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(lock) << "no .lock in the staging directory";
  EXPECT_NE(::flock(lock.get(), LOCK_EX | LOCK_NB), 0) << "the staging directory is not locked";
  EXPECT_EQ(Leftovers(store()).size(), 1u) << "a claim directory stayed beside the staging one";
}

TEST_F(ImageStoreTest, AStagingNotPublishedIsRemovedWhenItGoes) {
  std::string dir;
  {
    Staging staging = Stage();
    dir = staging.dir();
    ASSERT_TRUE(Exists(dir + "/rootfs.ext4"));
  }
  EXPECT_FALSE(Exists(dir)) << "an abandoned staging directory stayed";
  EXPECT_TRUE(Leftovers(store()).empty());
}

TEST_F(ImageStoreTest, AMovedStagingIsRemovedOnceByItsLastOwner) {
  std::optional<Staging> moved;
  std::string dir;
  {
    Staging first = Stage();
    dir = first.dir();
    moved.emplace(std::move(first));
  }
  EXPECT_TRUE(Exists(dir)) << "the moved-from staging removed the directory it gave away";
  moved.reset();
  EXPECT_FALSE(Exists(dir));
}

TEST_F(ImageStoreTest, PublishWritesTheRecordAndRenamesTheStagingIntoPlace) {
  Staging staging = Stage();
  const std::string id = staging.id();
  const std::string staging_dir = staging.dir();
  auto published = store().Publish(std::move(staging), json{{"name", "alpine"}}, /*replace=*/false);
  ASSERT_TRUE(published) << published.error().message;
  EXPECT_FALSE(published->warning.has_value()) << *published->warning;
  EXPECT_EQ(published->image.id, id);
  EXPECT_EQ(published->image.dir, store().images_dir() + "/" + id);
  EXPECT_FALSE(Exists(staging_dir));
  EXPECT_FALSE(Exists(published->image.dir + "/.lock")) << "the staging lock file was published";
  EXPECT_EQ(ReadFile(published->image.rootfs()), "ext4 bytes");

  const json record = json::parse(ReadFile(published->image.dir + "/image.json"));
  EXPECT_EQ(record["id"], id);
  EXPECT_EQ(record["name"], "alpine");

  const std::vector<StoredImage> listed = store().List();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id, id);
  auto found = store().FindByName("alpine");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->dir, published->image.dir);
  EXPECT_FALSE(store().FindByName("alpine2").has_value());
  EXPECT_TRUE(Leftovers(store()).empty());
}

TEST_F(ImageStoreTest, PublishWithoutARootfsFailsAndLeavesNothing) {
  auto staging = store().BeginStaging();
  ASSERT_TRUE(staging);
  auto published = store().Publish(std::move(*staging), json{{"name", "empty"}}, false);
  ASSERT_FALSE(published) << "published an image without rootfs.ext4";
  EXPECT_TRUE(store().List().empty());
  EXPECT_TRUE(Leftovers(store()).empty()) << "the failed staging stayed";
}

TEST_F(ImageStoreTest, ATakenNameFailsWithoutReplaceAndLeavesNoStaging) {
  auto first = PublishAs("debian");
  ASSERT_TRUE(first) << first.error().message;
  auto second = PublishAs("debian");
  ASSERT_FALSE(second) << "two images named debian";
  EXPECT_NE(second.error().message.find("an image named 'debian' exists"), std::string::npos)
      << second.error().message;
  EXPECT_TRUE(Leftovers(store()).empty()) << "the refused pull's staging stayed";
  const std::vector<StoredImage> listed = store().List();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id, first->image.id) << "the refused publish disturbed the image holding the name";
}

TEST_F(ImageStoreTest, ReplaceUnpublishesTheOldImageAndDeletesIt) {
  auto old_image = PublishAs("ubuntu");
  ASSERT_TRUE(old_image) << old_image.error().message;
  auto new_image = PublishAs("ubuntu", /*replace=*/true);
  ASSERT_TRUE(new_image) << new_image.error().message;
  EXPECT_NE(new_image->image.id, old_image->image.id);
  EXPECT_FALSE(Exists(old_image->image.dir)) << "the replaced image is still there";
  auto found = store().FindByName("ubuntu");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, new_image->image.id);
  EXPECT_EQ(store().List().size(), 1u);
  EXPECT_TRUE(Leftovers(store()).empty()) << "the replaced image's .removing.staging stayed";
}

TEST_F(ImageStoreTest, AQuotaIsHeldWhenPublishingAndAReplacedImageDoesNotCount) {
  store_->HoldTo({.max_images = 1, .max_bytes = std::nullopt, .owner = "alice"});
  ASSERT_TRUE(PublishAs("one"));
  auto second = PublishAs("two");
  ASSERT_FALSE(second) << "two images under a quota of one";
  EXPECT_EQ(second.error().message,
            "alice would hold 2 images with this one, more than the 1 tenant_max_images allows; remove one first");
  EXPECT_TRUE(Leftovers(store()).empty()) << "the refused pull's staging stayed";
  EXPECT_TRUE(PublishAs("one", /*replace=*/true)) << "a replacement holds as many images as before";

  // Bytes: the files' blocks on disk, this image's included.
  const uint64_t one_image = AllocatedBytes(store().List().at(0).rootfs());
  ASSERT_GT(one_image, 0u);
  store_->HoldTo({.max_images = std::nullopt, .max_bytes = 2 * one_image - 1, .owner = "alice"});
  auto over = PublishAs("three");
  ASSERT_FALSE(over);
  EXPECT_NE(over.error().message.find("alice's images would hold "), std::string::npos) << over.error().message;
  EXPECT_NE(over.error().message.find("tenant_max_bytes allows; remove an image first"), std::string::npos)
      << over.error().message;
  store_->HoldTo({.max_images = std::nullopt, .max_bytes = 2 * one_image, .owner = "alice"});
  EXPECT_TRUE(PublishAs("three"));
  EXPECT_EQ(store().List().size(), 2u);
}

TEST_F(ImageStoreTest, RemoveUnpublishesAndDeletes) {
  auto kept = PublishAs("kept");
  auto doomed = PublishAs("doomed");
  ASSERT_TRUE(kept && doomed);
  ASSERT_TRUE(store().Remove(doomed->image));
  EXPECT_FALSE(Exists(doomed->image.dir));
  EXPECT_FALSE(store().FindByName("doomed").has_value());
  EXPECT_TRUE(store().FindByName("kept").has_value()) << "Remove took the wrong image";
  EXPECT_TRUE(Leftovers(store()).empty());
  EXPECT_FALSE(store().Remove(doomed->image)) << "removing a removed image succeeded";
}

TEST_F(ImageStoreTest, RemoveStaleStagingTakesOnlyWhatNoLivePullHolds) {
  Staging live = Stage();
  const std::string unlocked = store().images_dir() + "/dead1.staging";
  const std::string lockless = store().images_dir() + "/dead2.staging";
  const std::string old_claim = store().images_dir() + "/dead3.claim";
  const std::string new_claim = store().images_dir() + "/fresh.claim";
  for (const std::string& dir : {unlocked, lockless, old_claim, new_claim}) ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  ASSERT_TRUE(UniqueFd(::open((unlocked + "/.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)));
  const struct timespec long_ago[2] = {{1000000000, 0}, {1000000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, old_claim.c_str(), long_ago, 0), 0);

  store().RemoveStaleStaging();
  EXPECT_TRUE(Exists(live.dir() + "/rootfs.ext4")) << "a live pull's staging was taken for stale";
  EXPECT_FALSE(Exists(unlocked)) << "a staging whose lock nobody holds stayed";
  EXPECT_FALSE(Exists(lockless)) << "a staging without a lock stayed";
  EXPECT_FALSE(Exists(old_claim)) << "an old claim stayed";
  EXPECT_TRUE(Exists(new_claim)) << "a claim a pull may be locking right now was removed";
  auto published = store().Publish(std::move(live), json{{"name", "survivor"}}, false);
  EXPECT_TRUE(published) << published.error().message;
}

TEST_F(ImageStoreTest, AFailedFsyncAfterTheRenameLeavesTheImagePublishedWithAWarning) {
  std::vector<std::string> synced;
  Reopen([&synced](const std::string& dir) -> Result<void> {
    synced.push_back(dir);
    return Error{ErrorCode::kIo, "fsync " + dir + ": Input/output error"};
  });
  auto published = PublishAs("fragile");
  ASSERT_TRUE(published) << "an error for an image that is published: " << published.error().message;
  ASSERT_TRUE(published->warning.has_value()) << "the failed fsync went unreported";
  EXPECT_NE(published->warning->find("is published"), std::string::npos) << *published->warning;
  EXPECT_NE(published->warning->find("fragile"), std::string::npos) << *published->warning;
  EXPECT_NE(published->warning->find("Input/output error"), std::string::npos) << *published->warning;
  EXPECT_EQ(synced, std::vector<std::string>{store().images_dir()});

  EXPECT_TRUE(Exists(published->image.dir + "/image.json"));
  auto found = store().FindByName("fragile");
  ASSERT_TRUE(found.has_value()) << "the image is not listed";
  EXPECT_EQ(found->id, published->image.id);
  EXPECT_EQ(store().List().size(), 1u);
  EXPECT_TRUE(Leftovers(store()).empty());
}

TEST_F(ImageStoreTest, AReplaceWhoseFsyncFailedKeepsTheOldImageUnlistedUntilTheSweep) {
  auto old_image = PublishAs("ubuntu");
  ASSERT_TRUE(old_image) << old_image.error().message;
  Reopen([](const std::string&) -> Result<void> { return Error{ErrorCode::kIo, "fsync: Input/output error"}; });
  auto new_image = PublishAs("ubuntu", /*replace=*/true);
  ASSERT_TRUE(new_image) << new_image.error().message;
  EXPECT_TRUE(new_image->warning.has_value());
  const std::vector<StoredImage> listed = store().List();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id, new_image->image.id);
  const std::string kept = store().images_dir() + "/" + old_image->image.id + ".replaced.staging";
  EXPECT_EQ(ReadFile(kept + "/rootfs.ext4"), "ext4 bytes") << "the replaced image was deleted before it was durable";
  store().RemoveStaleStaging();
  EXPECT_FALSE(Exists(kept)) << "its replacement is in place: the sweep deletes it";
  EXPECT_TRUE(Exists(new_image->image.rootfs()));
}

// The crash the kept image is for: the replacement's rename did not survive, its own did.
TEST_F(ImageStoreTest, AReplacedImageWhoseReplacementWasLostComesBack) {
  auto old_image = PublishAs("ubuntu");
  ASSERT_TRUE(old_image) << old_image.error().message;
  Reopen([](const std::string&) -> Result<void> { return Error{ErrorCode::kIo, "fsync: Input/output error"}; });
  auto new_image = PublishAs("ubuntu", /*replace=*/true);
  ASSERT_TRUE(new_image) << new_image.error().message;
  // As if its rename had never happened: out of the images directory altogether.
  ASSERT_EQ(::rename(new_image->image.dir.c_str(), (store().images_dir() + "-lost").c_str()), 0);
  store().RemoveStaleStaging();
  auto back = store().FindByName("ubuntu");
  ASSERT_TRUE(back) << "the replaced image was lost with its replacement";
  EXPECT_EQ(back->id, old_image->image.id);
  EXPECT_EQ(ReadFile(back->rootfs()), "ext4 bytes");
  EXPECT_FALSE(Exists(store().images_dir() + "/" + old_image->image.id + ".replaced.staging"));
}

// `image rm` cut short leaves `.removing.staging`: the sweep deletes it, never restores it.
TEST_F(ImageStoreTest, ARemovalCutShortIsFinishedNotUndone) {
  auto image = PublishAs("ubuntu");
  ASSERT_TRUE(image) << image.error().message;
  const std::string removing = image->image.dir + ".removing.staging";
  ASSERT_EQ(::rename(image->image.dir.c_str(), removing.c_str()), 0);
  store().RemoveStaleStaging();
  EXPECT_FALSE(Exists(removing));
  EXPECT_FALSE(store().FindByName("ubuntu"));
}

TEST(ImageName, ValidNamesAndTheirEdges) {
  for (const std::string& name : {std::string("a"), std::string("debian-12"), std::string("Alpine_3.19"),
                                  std::string("9lives"), std::string(128, 'x')}) {
    EXPECT_TRUE(IsValidImageName(name)) << name;
  }
  for (const std::string& name :
       {std::string(""), std::string(129, 'x'), std::string("-leading-dash"), std::string(".hidden"),
        std::string("_under"), std::string("a/b"), std::string(".."), std::string("a b"), std::string("tag:1"),
        std::string("caf\xc3\xa9"), std::string("nul\0byte", 8), std::string("new\nline")}) {
    EXPECT_FALSE(IsValidImageName(name)) << "'" << name << "' passed";
  }
}

}  // namespace
}  // namespace banger::broker
