// The unpacker's spool writer (unpacker/spool_writer.h) against a real file: every file
// starts on a block boundary past the base, every byte sits at its file offset modulo
// 4 KiB, whole zero blocks are holes, and every write suits an O_DIRECT descriptor.
#include "unpacker/spool_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "base/fd.h"
#include "tests/support/test_support.h"

namespace banger::unpacker {
namespace {

constexpr uint64_t kBlock = 4096;
constexpr uint64_t kBase = 16 << 20;

std::string Bytes(size_t n, char c) { return std::string(n, c); }

class Spool : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.path() + "/spool";
    file_ = UniqueFd(::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    ASSERT_TRUE(file_);
    auto direct = ReopenForDirectWrites(file_.get());
    ASSERT_TRUE(direct.ok() && direct->has_value()) << "the tests' scratch has no direct I/O";
    direct_ = std::move(**direct);
  }
  std::string Read(uint64_t offset, uint64_t length) {
    std::string out(length, '\0');
    EXPECT_EQ(::pread(file_.get(), out.data(), length, static_cast<off_t>(offset)), static_cast<ssize_t>(length));
    return out;
  }
  testing::ScratchDir dir_{"banger-spool"};
  std::string path_;
  UniqueFd file_, direct_;
};

TEST_F(Spool, EachFileStartsOnABlockAndKeepsItsOffsetWithinTheBlock) {
  SpoolWriter spool(direct_.get(), kBase);
  // A small file, then one whose data arrives split inside a block, with a whole zero
  // block between (a hole), then a sparse piece that starts inside a block.
  ASSERT_TRUE(spool.Append(0, Bytes(100, 'a').data(), 100).ok());
  const std::vector<ipc::Extent> small = spool.TakeExtents();
  const std::string part1 = Bytes(2048, 'b'), zeros(2048 + kBlock, '\0'), part2 = Bytes(kBlock, 'c');
  ASSERT_TRUE(spool.Append(0, part1.data(), part1.size()).ok());
  ASSERT_TRUE(spool.Append(2048, zeros.data(), zeros.size()).ok());
  ASSERT_TRUE(spool.Append(2 * kBlock, part2.data(), part2.size()).ok());
  ASSERT_TRUE(spool.Append(3 * kBlock + 3000, Bytes(500, 'd').data(), 500).ok());
  const std::vector<ipc::Extent> split = spool.TakeExtents();
  ASSERT_TRUE(spool.Flush().ok());

  ASSERT_EQ(small.size(), 1u);
  EXPECT_EQ(small[0].file_offset, 0u);
  EXPECT_EQ(small[0].length, 100u);
  EXPECT_EQ(small[0].spool_offset, kBase);
  // The second file: its first block at the next block, its third block right after
  // (the zero block between is a hole), the sparse piece at 3000 in the block after.
  ASSERT_EQ(split.size(), 3u);
  EXPECT_EQ(split[0].file_offset, 0u);
  EXPECT_EQ(split[0].length, 2048u);
  EXPECT_EQ(split[0].spool_offset, kBase + kBlock);
  EXPECT_EQ(split[1].file_offset, 2 * kBlock);
  EXPECT_EQ(split[1].length, kBlock);
  EXPECT_EQ(split[1].spool_offset, kBase + 2 * kBlock);
  EXPECT_EQ(split[2].file_offset, 3 * kBlock + 3000);
  EXPECT_EQ(split[2].spool_offset, kBase + 3 * kBlock + 3000);
  for (const auto& x : split) EXPECT_EQ(x.spool_offset % kBlock, x.file_offset % kBlock);
  EXPECT_EQ(spool.bytes_written(), 3 * kBlock + 3500);

  EXPECT_EQ(Read(kBase, kBlock), Bytes(100, 'a') + std::string(kBlock - 100, '\0'));
  EXPECT_EQ(Read(kBase + kBlock, kBlock), part1 + std::string(2048, '\0'));
  EXPECT_EQ(Read(kBase + 2 * kBlock, kBlock), part2);
  EXPECT_EQ(Read(kBase + 3 * kBlock, kBlock), std::string(3000, '\0') + Bytes(500, 'd') + std::string(596, '\0'));
  struct stat st {};
  ASSERT_EQ(::fstat(file_.get(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), kBase + 4 * kBlock) << "the last block is written whole";
}

// Megabytes at a time: the buffer is written in whole blocks while the data goes on, and
// a piece in the same block as the file's last one continues it after a flush.
TEST_F(Spool, LongFilesCrossFlushesIntact) {
  SpoolWriter spool(direct_.get(), kBase);
  std::string data;
  for (size_t i = 0; i < (3 << 20) + 777; ++i) data += static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  for (size_t at = 0; at < data.size(); at += 10000) {
    const size_t n = std::min<size_t>(10000, data.size() - at);
    ASSERT_TRUE(spool.Append(at, data.data() + at, n).ok());
  }
  const auto extents = spool.TakeExtents();
  ASSERT_TRUE(spool.Flush().ok());
  ASSERT_EQ(extents.size(), 1u);
  EXPECT_EQ(extents[0].length, data.size());
  EXPECT_EQ(extents[0].spool_offset, kBase);
  EXPECT_TRUE(Read(kBase, data.size()) == data);
}

// Two layers at once: the one read ahead writes into its window, then waits for its
// turn; the current one writes at the end, and what its last chunk did not use goes
// back, so the next layer goes on right after its data.
TEST(RegionSpace, AReadAheadLayerFillsItsWindowThenWaitsForItsTurn) {
  RegionSpace space(kBase, 8 * kBlock);
  space.Reserve(1, 2 * kBlock - 100, UINT64_MAX);
  std::atomic<bool> stop{false};
  auto window = space.Take(1, &stop);
  ASSERT_TRUE(window);
  EXPECT_EQ(window->start, kBase);
  EXPECT_EQ(window->length, 2 * kBlock);
  auto current = space.Take(0, &stop);
  ASSERT_TRUE(current);
  EXPECT_EQ(current->start, kBase + 2 * kBlock);

  std::atomic<bool> taken{false};
  Result<RegionSpace::Chunk> after_window = RegionSpace::Chunk{};
  std::thread ahead([&] {
    after_window = space.Take(1, &stop);
    taken = true;
  });
  EXPECT_FALSE(testing::WaitFor([&] { return taken.load(); }, 200)) << "layer 1 wrote before its turn";
  space.Finished(0, kBase + 2 * kBlock + 100);
  space.MakeCurrent(1);
  ahead.join();
  ASSERT_TRUE(after_window) << after_window.error().message;
  EXPECT_EQ(after_window->start, kBase + 3 * kBlock) << "layer 0's unused chunk end was given back";
  EXPECT_EQ(space.length(), 2 * kBlock + 100);

  std::thread stopped([&] { after_window = space.Take(2, &stop); });
  stop = true;
  space.Wake();
  stopped.join();
  ASSERT_FALSE(after_window);
  EXPECT_EQ(after_window.error().code, ErrorCode::kStopped);
}

// The layer read ahead finishing inside its window, between the current layer's last
// chunk and its end, must not keep the current layer's unused tail: where the next
// window goes would then depend on which thread finished first.
TEST(RegionSpace, WhereTheNextWindowGoesDoesNotDependOnWhoFinishesFirst) {
  auto next_window = [](bool ahead_finishes_first) {
    RegionSpace space(kBase, 8 * kBlock);
    space.Reserve(1, kBlock, UINT64_MAX);
    std::atomic<bool> stop{false};
    EXPECT_TRUE(space.Take(1, &stop));
    auto current = space.Take(0, &stop);
    EXPECT_TRUE(current);
    if (ahead_finishes_first) space.Finished(1, kBase + 10);
    space.Finished(0, current->start + 100);
    if (!ahead_finishes_first) space.Finished(1, kBase + 10);
    space.Reserve(2, kBlock, UINT64_MAX);
    return space.Take(2, &stop)->start;
  };
  EXPECT_EQ(next_window(true), next_window(false));
  EXPECT_EQ(next_window(true), kBase + 2 * kBlock);
}

// A window never reaches past the data bound, however large the layer's blob: one that
// would is not reserved, and that layer writes only in its turn.
TEST(RegionSpace, AWindowPastTheBoundIsNotReserved) {
  RegionSpace space(kBase, 8 * kBlock);
  space.Reserve(1, 3 * kBlock, kBase + 3 * kBlock);
  space.Reserve(2, 100, kBase + 3 * kBlock);
  std::atomic<bool> stop{false};
  auto one = space.Take(1, &stop);
  ASSERT_TRUE(one);
  EXPECT_EQ(one->start, kBase);
  EXPECT_EQ(one->length, 3 * kBlock);
  auto current = space.Take(0, &stop);
  ASSERT_TRUE(current);
  EXPECT_EQ(current->start, kBase + 3 * kBlock) << "layer 2 got no window: no room was left";
  std::thread waits([&] { EXPECT_FALSE(space.Take(2, &stop)) << "layer 2 had a window past the bound"; });
  stop = true;
  space.Wake();
  waits.join();
}

}  // namespace
}  // namespace banger::unpacker
