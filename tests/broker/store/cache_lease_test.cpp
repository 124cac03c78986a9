// Cache leases (a running pull's claim on its blobs, flocked while it lives) and the
// one-download-per-blob claim, on a fresh cache root in a scratch directory.
#include "broker/store/cache_lease.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/fd.h"
#include "base/sha256.h"
#include "broker/store/cache_layout.h"
#include "tests/support/test_support.h"

namespace banger::broker {
namespace {

using testing::ReadFile;
using testing::ScratchDir;

using testing::Exists;

std::vector<std::string> Names(const std::string& dir) {
  auto names = ListDirectory(dir);
  return names ? *names : std::vector<std::string>();
}

// Writes a lease file as a pull that died would have left it: digests, no flock.
void WriteDeadLease(const CacheLayout& layout, const std::string& name, const std::string& text) {
  ASSERT_TRUE(::mkdir(layout.leases_dir().c_str(), 0700) == 0 || errno == EEXIST);
  UniqueFd fd(::open((layout.leases_dir() + "/" + name).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  ASSERT_TRUE(fd);
  ASSERT_TRUE(WriteAll(fd.get(), text, "dead lease"));
}

class CacheLeaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = CacheLayout::Open(root_.path() + "/cache");
    ASSERT_TRUE(opened) << opened.error().message;
    layout_.emplace(std::move(*opened));
  }
  const CacheLayout& layout() const { return *layout_; }

  ScratchDir root_{"banger-lease"};
  std::optional<CacheLayout> layout_;
  const std::string a_ = Sha256DigestOf("blob a");
  const std::string b_ = Sha256DigestOf("blob b");
};

TEST_F(CacheLeaseTest, ALeaseFileExistsWhileHeldAndGoesWithTheLease) {
  auto lease = CacheLease::Take(layout());
  ASSERT_TRUE(lease) << lease.error().message;
  std::vector<std::string> names = Names(layout().leases_dir());
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(names[0].rfind(std::to_string(::getpid()) + "-", 0), 0u) << names[0] << ": named <pid>-<random>";
  lease->reset();
  EXPECT_TRUE(Names(layout().leases_dir()).empty()) << "the lease file outlived its lease";
}

TEST_F(CacheLeaseTest, TwoLeasesOfOneProcessAreTwoFiles) {
  auto first = CacheLease::Take(layout());
  auto second = CacheLease::Take(layout());
  ASSERT_TRUE(first && second);
  EXPECT_EQ(Names(layout().leases_dir()).size(), 2u);
  first->reset();
  EXPECT_EQ(Names(layout().leases_dir()).size(), 1u) << "one lease's end removed the other's file";
}

TEST_F(CacheLeaseTest, HoldWritesTheDigestsOneALine) {
  auto lease = CacheLease::Take(layout());
  ASSERT_TRUE(lease);
  ASSERT_TRUE((*lease)->Hold({a_}));
  ASSERT_TRUE((*lease)->Hold({b_}));
  const std::vector<std::string> names = Names(layout().leases_dir());
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(ReadFile(layout().leases_dir() + "/" + names[0]), a_ + "\n" + b_ + "\n");
}

TEST_F(CacheLeaseTest, HeldDigestsSeesEveryLiveLease) {
  auto one = CacheLease::Take(layout());
  auto two = CacheLease::Take(layout());
  ASSERT_TRUE(one && two);
  ASSERT_TRUE((*one)->Hold({a_}));
  ASSERT_TRUE((*two)->Hold({b_, a_}));
  auto held = HeldDigests(layout(), /*dry_run=*/false);
  ASSERT_TRUE(held) << held.error().message;
  std::vector<std::string> sorted = *held;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::string> expected = {a_, a_, b_};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(sorted, expected);
  EXPECT_EQ(Names(layout().leases_dir()).size(), 2u) << "a live lease was taken for dead";
}

TEST_F(CacheLeaseTest, HeldDigestsWithNoLeasesDirectoryIsEmpty) {
  auto held = HeldDigests(layout(), /*dry_run=*/false);
  ASSERT_TRUE(held) << held.error().message;
  EXPECT_TRUE(held->empty());
}

TEST_F(CacheLeaseTest, ALeaseWhoseLockIsFreeIsADeadPullAndIsRemoved) {
  WriteDeadLease(layout(), "99999-dead", a_ + "\n");
  auto live = CacheLease::Take(layout());
  ASSERT_TRUE(live);
  ASSERT_TRUE((*live)->Hold({b_}));

  auto held = HeldDigests(layout(), /*dry_run=*/false);
  ASSERT_TRUE(held) << held.error().message;
  EXPECT_EQ(*held, std::vector<std::string>{b_}) << "a dead pull's digests count as held";
  EXPECT_FALSE(Exists(layout().leases_dir() + "/99999-dead")) << "the dead lease was left behind";
  EXPECT_EQ(Names(layout().leases_dir()).size(), 1u);
}

TEST_F(CacheLeaseTest, ADryRunLeavesADeadLeaseInPlace) {
  WriteDeadLease(layout(), "99999-dead", a_ + "\n");
  auto held = HeldDigests(layout(), /*dry_run=*/true);
  ASSERT_TRUE(held) << held.error().message;
  EXPECT_TRUE(held->empty()) << "a dead pull's digests count as held";
  EXPECT_TRUE(Exists(layout().leases_dir() + "/99999-dead")) << "a dry run removed a lease";
}

TEST_F(CacheLeaseTest, ALeaseHeldByAnotherProcessIsLive) {
  // The lock, not the process that wrote the file, decides: a file flocked by a child
  // (another pull) counts, whoever made it.
  WriteDeadLease(layout(), "12345-other", a_ + "\n");
  int ready[2];
  int release[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(release, O_CLOEXEC), 0);
  const std::string path = layout().leases_dir() + "/12345-other";
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(ready[0]);
    ::close(release[1]);  // so that the parent's close is the end of the pipe
    int fd = ::open(path.c_str(), O_RDONLY);
    char byte = ::flock(fd, LOCK_EX | LOCK_NB) == 0 ? 'y' : 'n';
    (void)!::write(ready[1], &byte, 1);
    (void)!::read(release[0], &byte, 1);
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(release[0]);
  char locked = 0;
  ASSERT_EQ(::read(ready[0], &locked, 1), 1);
  ASSERT_EQ(locked, 'y');
  auto held = HeldDigests(layout(), /*dry_run=*/false);
  ::close(release[1]);
  ::close(ready[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(held) << held.error().message;
  EXPECT_EQ(*held, std::vector<std::string>{a_});
  EXPECT_TRUE(Exists(path)) << "a live lease was removed";
}

TEST_F(CacheLeaseTest, ASecondClaimOfOneDownloadFailsWhileTheFirstLives) {
  auto first = TryClaimDownload(layout(), a_);
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_TRUE(first->has_value()) << "the first claim found the blob taken";
  EXPECT_TRUE(Exists(layout().DownloadLockPath(a_)));

  auto second = TryClaimDownload(layout(), a_);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_FALSE(second->has_value()) << "two claims on one download at once";

  auto other = TryClaimDownload(layout(), b_);
  ASSERT_TRUE(other) << other.error().message;
  EXPECT_TRUE(other->has_value()) << "a claim on one blob blocked another blob";
}

TEST_F(CacheLeaseTest, AClaimSucceedsOnceTheFirstClaimIsClosed) {
  auto first = TryClaimDownload(layout(), a_);
  ASSERT_TRUE(first && first->has_value());
  first->reset();
  auto again = TryClaimDownload(layout(), a_);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->has_value()) << "a closed claim still blocks the download";
}

}  // namespace
}  // namespace banger::broker
