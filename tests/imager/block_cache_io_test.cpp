// The imager's metadata cache (imager/block_cache_io.h) against a real file: blocks
// written through it reach the file sorted and merged when it is flushed or full, reads
// see what was written, anything not a single block goes to the file after the cache is
// written out, and a range dropped for file data is never written over.
#include "imager/block_cache_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/test_support.h"

namespace banger::imager {
namespace {

constexpr int kBlock = 4096;

class BlockCacheIo : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.path() + "/image";
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(fd_, 0);
    ASSERT_EQ(::ftruncate(fd_, 64 * kBlock), 0);
    reader_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_EQ(BlockCacheIoManager()->open(std::to_string(fd_).c_str(), IO_FLAG_RW, &channel_), 0);
    ASSERT_EQ(io_channel_set_blksize(channel_, kBlock), 0);
  }
  void TearDown() override {
    if (channel_ != nullptr) io_channel_close(channel_);
    ::close(reader_);
  }
  // What the file holds at `block`, read past the cache.
  std::string OnDisk(int block) {
    std::string out(kBlock, '\0');
    EXPECT_EQ(::pread(reader_, out.data(), kBlock, static_cast<off_t>(block) * kBlock), kBlock);
    return out;
  }
  static std::string Filled(char c) { return std::string(kBlock, c); }

  testing::ScratchDir dir_{"banger-block-cache"};
  std::string path_;
  int fd_ = -1, reader_ = -1;
  io_channel channel_ = nullptr;
};

TEST_F(BlockCacheIo, WritesStayInMemoryUntilFlushedAndAreReadBack) {
  ASSERT_EQ(io_channel_write_blk64(channel_, 3, 1, Filled('a').data()), 0);
  ASSERT_EQ(io_channel_write_blk64(channel_, 2, 1, Filled('b').data()), 0);
  EXPECT_EQ(OnDisk(3), Filled('\0')) << "not written yet";
  std::string back(kBlock, '\0');
  ASSERT_EQ(io_channel_read_blk64(channel_, 3, 1, back.data()), 0);
  EXPECT_EQ(back, Filled('a'));
  ASSERT_EQ(io_channel_flush(channel_), 0);
  EXPECT_EQ(OnDisk(2), Filled('b'));
  EXPECT_EQ(OnDisk(3), Filled('a'));
}

TEST_F(BlockCacheIo, AnythingButOneBlockGoesToTheFileAfterTheCache) {
  ASSERT_EQ(io_channel_write_blk64(channel_, 5, 1, Filled('c').data()), 0);
  std::string two = Filled('d') + Filled('e');
  ASSERT_EQ(io_channel_write_blk64(channel_, 5, 2, two.data()), 0);
  EXPECT_EQ(OnDisk(5), Filled('d')) << "the multi-block write comes after the cached one";
  EXPECT_EQ(OnDisk(6), Filled('e'));
  std::string back(2 * kBlock, '\0');
  ASSERT_EQ(io_channel_read_blk64(channel_, 5, 2, back.data()), 0);
  EXPECT_EQ(back, two);
  // A block size change (libext2fs writes the superblock so) writes the cache out first.
  ASSERT_EQ(io_channel_write_blk64(channel_, 7, 1, Filled('f').data()), 0);
  ASSERT_EQ(io_channel_set_blksize(channel_, 1024), 0);
  EXPECT_EQ(OnDisk(7), Filled('f'));
}

TEST_F(BlockCacheIo, AFullCacheIsWrittenOutAndReadsPastTheEndAreZeros) {
  for (size_t b = 0; b <= kCachedBlocks; ++b) {
    const std::string block = Filled(static_cast<char>('A' + b % 26));
    ASSERT_EQ(io_channel_write_blk64(channel_, 100 + b, 1, block.data()), 0);
  }
  EXPECT_EQ(OnDisk(100), Filled('A')) << "the cache was full: written out";
  std::string far(kBlock, 'x');
  ASSERT_EQ(io_channel_read_blk64(channel_, 1 << 20, 1, far.data()), 0);
  EXPECT_EQ(far, Filled('\0'));
}

// File data written beside the cache into a block libext2fs once wrote (and freed) keeps
// its bytes once the range is dropped; without the drop the cached block would win.
TEST_F(BlockCacheIo, ADroppedRangeIsNeverWrittenOverTheDataThatOwnsItNow) {
  ASSERT_EQ(io_channel_write_blk64(channel_, 9, 1, Filled('m').data()), 0);
  ASSERT_EQ(io_channel_write_blk64(channel_, 10, 1, Filled('n').data()), 0);
  const std::string data = Filled('D');
  ASSERT_EQ(::pwrite(fd_, data.data(), kBlock, 9 * kBlock), kBlock);
  DropCachedRange(channel_, 9 * kBlock, 100);
  ASSERT_EQ(io_channel_close(channel_), 0);
  channel_ = nullptr;
  EXPECT_EQ(OnDisk(9), data);
  EXPECT_EQ(OnDisk(10), Filled('n')) << "only the dropped range";
}

// Once told that the file is holes outside the data region, the channel answers reads
// there with zeros, without reading (the 'G' bytes prove no read was made), until it has
// written a block: then the file's bytes, at either block size. The region is read.
TEST_F(BlockCacheIo, BlocksOutsideTheRegionReadAsZerosUntilWritten) {
  const std::string garbage = Filled('G');
  for (int b = 20; b < 30; ++b) ASSERT_EQ(::pwrite(fd_, garbage.data(), kBlock, b * kBlock), kBlock);
  const std::string region = Filled('R');
  ASSERT_EQ(::pwrite(fd_, region.data(), kBlock, 45 * kBlock), kBlock);
  AssumeZerosOutside(channel_, 40 * kBlock, 50 * kBlock);

  std::string back(kBlock, 'x');
  ASSERT_EQ(io_channel_read_blk64(channel_, 20, 1, back.data()), 0);
  EXPECT_EQ(back, Filled('\0')) << "a block never written outside the region";
  ASSERT_EQ(io_channel_read_blk64(channel_, 45, 1, back.data()), 0);
  EXPECT_EQ(back, region) << "the data region is always read";

  ASSERT_EQ(io_channel_write_blk64(channel_, 21, 1, Filled('w').data()), 0);
  const std::string two = Filled('m') + Filled('n');
  ASSERT_EQ(io_channel_write_blk64(channel_, 25, 2, two.data()), 0);  // straight to the file
  ASSERT_EQ(io_channel_flush(channel_), 0);                            // 21 written out, cache emptied
  ASSERT_EQ(io_channel_read_blk64(channel_, 21, 1, back.data()), 0);
  EXPECT_EQ(back, Filled('w'));
  ASSERT_EQ(io_channel_read_blk64(channel_, 26, 1, back.data()), 0);
  EXPECT_EQ(back, Filled('n'));
  ASSERT_EQ(io_channel_read_blk64(channel_, 27, 1, back.data()), 0);
  EXPECT_EQ(back, Filled('\0')) << "next to written blocks, still unwritten";

  // At 1 KiB blocks the same bytes: written ones from the file, the rest zeros.
  ASSERT_EQ(io_channel_set_blksize(channel_, 1024), 0);
  std::string small(1024, 'x');
  ASSERT_EQ(io_channel_read_blk64(channel_, 21 * 4 + 3, 1, small.data()), 0);
  EXPECT_EQ(small, std::string(1024, 'w'));
  ASSERT_EQ(io_channel_read_blk64(channel_, 22 * 4, 1, small.data()), 0);
  EXPECT_EQ(small, std::string(1024, '\0'));
}

}  // namespace
}  // namespace banger::imager
