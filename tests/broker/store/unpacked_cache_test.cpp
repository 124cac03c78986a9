// `image cache prune` walks the unpacked cache while pulls store and remove entries in
// it: the walk must take a directory changing under it in its stride (it once died with
// "filesystem error: cannot increment recursive directory iterator").
#include "broker/store/unpacked_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/test_support.h"

namespace banger::testing {
namespace {

void MakeEntry(const std::string& dir) {
  ::mkdir(dir.c_str(), 0700);
  ::mkdir((dir + "/sub").c_str(), 0700);
  for (const char* name : {"/spool", "/tree", "/sub/deep"}) {
    int fd = ::open((dir + name).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
      (void)::write(fd, "x", 1);
      ::close(fd);
    }
  }
}

TEST(UnpackedCache, PruneWhileEntriesComeAndGoNeverThrows) {
  ScratchDir dir("banger-unpacked");
  const std::string oci = dir.path() + "/oci";
  ASSERT_TRUE(std::filesystem::create_directories(oci + "/unpacked"));
  auto layout = broker::CacheLayout::At(dir.path());
  ASSERT_TRUE(layout);
  const broker::UnpackedCache cache(*layout);
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    for (int i = 0; !stop; ++i) {
      const std::string entry = oci + "/unpacked/e" + std::to_string(i % 16);
      MakeEntry(entry);
      std::error_code ec;
      if (i % 3 == 0) std::filesystem::remove_all(entry, ec);
    }
  });
  uint64_t seen = 0;
  for (int i = 0; i < 3000; ++i) {
    ASSERT_NO_THROW(seen += cache.RemoveAll(/*dry_run=*/true).entries) << "round " << i;
  }
  stop = true;
  churn.join();
  EXPECT_GT(seen, 0u) << "the walk saw entries while they changed";
  auto removed = cache.RemoveAll(/*dry_run=*/false);
  EXPECT_GT(removed.bytes, 0u);
  EXPECT_EQ(RunCommand("ls -A " + oci + "/unpacked").output, "") << "a real prune empties it";
}

}  // namespace
}  // namespace banger::testing
