// The pieces of the imager's one-write files (imager/file_inode.h) on a real libext2fs
// filesystem in a scratch file: the free-run search ends whatever the bitmap holds, and
// finds runs after the goal, before it, and at the very end.
#include "imager/file_inode.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "tests/support/test_support.h"

namespace banger::imager {
namespace {

class FreeRuns : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string path = dir_.path() + "/fs";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 8192 * 4096), 0);
    ::close(fd);
    ext2_super_block param{};
    param.s_log_block_size = 2;  // 4 KiB
    ext2fs_blocks_count_set(&param, 8192);
    ASSERT_EQ(ext2fs_initialize(path.c_str(), EXT2_FLAG_RW | EXT2_FLAG_64BITS, &param, unix_io_manager, &fs_), 0);
    ASSERT_EQ(ext2fs_allocate_tables(fs_), 0);
    first_free_ = 0;
    ASSERT_EQ(ext2fs_find_first_zero_block_bitmap2(fs_->block_map, fs_->super->s_first_data_block, last(), &first_free_), 0);
  }
  void TearDown() override {
    if (fs_ != nullptr) ext2fs_free(fs_);
  }
  blk64_t last() const { return ext2fs_blocks_count(fs_->super) - 1; }
  // Every other block from the first free one to the end in use, the last block too:
  // no two free blocks touch.
  void Fragment() {
    for (blk64_t b = first_free_; b <= last(); b += 2) ext2fs_mark_block_bitmap2(fs_->block_map, b);
    ext2fs_mark_block_bitmap2(fs_->block_map, last());
  }
  std::optional<uint64_t> Find(uint64_t goal, uint64_t count) {
    auto found = FindFreeRun(fs_, goal, count);
    EXPECT_TRUE(found) << found.error().message;
    return found ? *found : std::nullopt;
  }

  testing::ScratchDir dir_{"banger-file-inode"};
  ext2_filsys fs_ = nullptr;
  blk64_t first_free_ = 0;
};

// libext2fs's own ext2fs_new_range(EXT2_NEWRANGE_MIN_LENGTH) loops for ever here.
TEST_F(FreeRuns, NoRunLongEnoughIsAnAnswerNotALoop) {
  Fragment();
  for (uint64_t goal : {uint64_t{0}, uint64_t{first_free_}, uint64_t{3000}, uint64_t{last()}}) {
    EXPECT_EQ(Find(goal, 2), std::nullopt) << "goal " << goal;
    const auto one = Find(goal, 1);
    ASSERT_TRUE(one) << "goal " << goal;
    EXPECT_FALSE(ext2fs_test_block_bitmap2(fs_->block_map, *one));
  }
  EXPECT_EQ(Find(first_free_, 8192), std::nullopt) << "more blocks than the filesystem has";
}

TEST_F(FreeRuns, ARunIsFoundAfterTheGoalBeforeItAndAtTheEnd) {
  Fragment();
  const blk64_t early = first_free_ + 101;  // 4 free blocks from here
  for (blk64_t b = early; b < early + 4; ++b) ext2fs_unmark_block_bitmap2(fs_->block_map, b);
  ext2fs_mark_block_bitmap2(fs_->block_map, early - 1);
  ext2fs_mark_block_bitmap2(fs_->block_map, early + 4);
  EXPECT_EQ(Find(early, 4), early);
  EXPECT_EQ(Find(5000, 4), early) << "wraps round to before the goal";
  EXPECT_EQ(Find(5000, 5), std::nullopt);
  for (blk64_t b = last() - 5; b <= last(); ++b) ext2fs_unmark_block_bitmap2(fs_->block_map, b);
  ext2fs_mark_block_bitmap2(fs_->block_map, last() - 6);
  EXPECT_EQ(Find(5000, 6), last() - 5) << "a run that ends on the last block";
  EXPECT_EQ(Find(5000, 4), last() - 5) << "the first after the goal";
}

TEST(FileExtents, ARunLongerThanOneExtentTakesSeveral) {
  EXPECT_EQ(ExtentsFor({{0, 0, kMaxExtentBlocks}}), 1u);
  EXPECT_EQ(ExtentsFor({{0, 0, kMaxExtentBlocks + 1}, {kMaxExtentBlocks + 5, 0, 1}}), 3u);
  ipc::TreeEntry entry;
  entry.extents = {{0, 5000, 0}, {5000, 100, 9000}, {65536, 10, 20000}};  // file offset, length, spool offset
  const std::vector<BlockRun> runs = DataRuns(entry, 4096);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].logical, 0u);
  EXPECT_EQ(runs[0].count, 2u);
  EXPECT_EQ(runs[1].logical, 16u);
  EXPECT_EQ(runs[1].count, 1u);
}

}  // namespace
}  // namespace banger::imager
