// The imager's data copier (imager/data_copy.h) against real files: given an O_DIRECT
// descriptor of the image, whole blocks of file data reach the disk without filling the
// page cache, every byte lands where it belongs (a file's last block padded with zeros,
// a later piece inside that block kept), and without one every byte lands the same.
#include "imager/data_copy.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/fd.h"
#include "tests/support/test_support.h"

namespace banger::imager {
namespace {

constexpr uint64_t kBlock = 4096;
constexpr uint64_t kImageBytes = 64 << 20;
constexpr uint64_t kUntouched = 7 << 20;  // between the first large file's end and the second's start

// Bytes no two places share: a copy to the wrong place or from the wrong offset shows.
std::string Pattern(uint64_t length, uint64_t seed) {
  std::string out(length, '\0');
  for (uint64_t i = 0; i < length; ++i) out[i] = static_cast<char>((i * 131 + seed * 7 + i / 4096) % 251 + 1);
  return out;
}

// Equal, or where the first difference is (not both strings: they are megabytes).
::testing::AssertionResult Same(const std::string& got, const std::string& want) {
  if (got == want) return ::testing::AssertionSuccess();
  size_t at = 0;
  while (at < got.size() && at < want.size() && got[at] == want[at]) ++at;
  return ::testing::AssertionFailure() << "differ at byte " << at << " of " << want.size() << " (got " << got.size()
                                       << " bytes)";
}

struct Piece {
  uint64_t spool_offset, image_offset, length;
};

class DataCopy : public ::testing::Test {
 protected:
  void SetUp() override {
    spool_ = UniqueFd(::open((dir_.path() + "/spool").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    image_ = UniqueFd(::open((dir_.path() + "/image").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    ASSERT_TRUE(spool_ && image_);
    Empty();
  }
  // An empty spool and an image of holes.
  void Empty() {
    ASSERT_EQ(::ftruncate(spool_.get(), 0), 0);
    ASSERT_EQ(::ftruncate(image_.get(), 0), 0);
    ASSERT_EQ(::ftruncate(image_.get(), kImageBytes), 0);
    spool_end_ = 0;
  }
  // Appends `bytes` to the spool; returns where they start.
  uint64_t Spool(const std::string& bytes) {
    const uint64_t at = spool_end_;
    EXPECT_TRUE(PwriteAll(spool_.get(), bytes, at, "spool").ok());
    spool_end_ += bytes.size();
    return at;
  }
  std::string ImageBytes(uint64_t offset, uint64_t length) {
    std::string out(length, '\0');
    EXPECT_EQ(::pread(image_.get(), out.data(), length, static_cast<off_t>(offset)), static_cast<ssize_t>(length));
    return out;
  }
  // How many of the image's pages in [offset, offset + length) the page cache holds.
  size_t ResidentPages(uint64_t offset, uint64_t length) {
    void* map = ::mmap(nullptr, kImageBytes, PROT_READ, MAP_SHARED, image_.get(), 0);
    EXPECT_NE(map, MAP_FAILED);
    std::vector<unsigned char> resident(kImageBytes / kBlock);
    EXPECT_EQ(::mincore(map, kImageBytes, resident.data()), 0);
    ::munmap(map, kImageBytes);
    size_t count = 0;
    for (uint64_t page = offset / kBlock; page < (offset + length + kBlock - 1) / kBlock; ++page) count += resident[page] & 1;
    return count;
  }
  void CopyAll(int direct_fd, const std::vector<Piece>& pieces) {
    DataCopier copier(spool_.get(), image_.get(), direct_fd);
    for (const Piece& p : pieces) ASSERT_TRUE(copier.Copy(p.spool_offset, p.image_offset, p.length).ok());
    auto done = copier.Finish();
    ASSERT_TRUE(done.ok()) << done.error().message;
  }

  testing::ScratchDir dir_{"banger-data-copy"};
  UniqueFd spool_, image_;
  uint64_t spool_end_ = 0;
};

// Large files (one of them ending inside its last block), then small neighbours that
// are gathered: the same bytes whichever way they go, and the direct way leaves the
// page cache empty.
TEST_F(DataCopy, WholeBlocksGoToTheDiskPastThePageCacheAndLandWhereTheyBelong) {
  for (bool direct : {true, false}) {
    SCOPED_TRACE(direct ? "direct" : "through the page cache");
    Empty();
    const std::string large = Pattern((5 << 20) + 1234, 1), larger = Pattern(9 << 20, 2);
    std::vector<std::string> small;
    for (int i = 0; i < 300; ++i) small.push_back(Pattern(100 + i * 37 % 3900, 10 + i));  // one block each, one apart
    std::vector<Piece> pieces = {{Spool(large), 1 << 20, large.size()}, {Spool(larger), 8 << 20, larger.size()}};
    // Neighbours, one block each: gathered into one write of 1.2 MiB.
    for (size_t i = 0; i < small.size(); ++i) pieces.push_back({Spool(small[i]), (20 << 20) + i * kBlock, small[i].size()});
    // What was in the image before, past the end of the first file's last block.
    ASSERT_TRUE(PwriteAll(image_.get(), std::string(kBlock, 'x'), kUntouched, "image").ok());
    ASSERT_EQ(::fdatasync(image_.get()), 0);
    ASSERT_EQ(::posix_fadvise(image_.get(), 0, kImageBytes, POSIX_FADV_DONTNEED), 0);

    UniqueFd direct_fd;
    if (direct) {
      auto opened = ReopenForDirectWrites(image_.get());
      ASSERT_TRUE(opened.ok()) << opened.error().message << " (the tests' scratch needs a disk file system)";
      direct_fd = std::move(*opened);
    }
    CopyAll(direct ? direct_fd.get() : -1, pieces);
    if (direct) {
      EXPECT_EQ(ResidentPages(1 << 20, large.size()), 0u);
      EXPECT_EQ(ResidentPages(8 << 20, larger.size()), 0u);
      EXPECT_EQ(ResidentPages(20 << 20, small.size() * kBlock), 0u);
    }
    EXPECT_TRUE(Same(ImageBytes(1 << 20, large.size()), large));
    const uint64_t tail = (1 << 20) + large.size();
    EXPECT_TRUE(Same(ImageBytes(tail, kBlock - large.size() % kBlock), std::string(kBlock - large.size() % kBlock, '\0')))
        << "a file's last block is zeros past its end";
    EXPECT_TRUE(Same(ImageBytes(8 << 20, larger.size()), larger));
    for (size_t i = 0; i < small.size(); ++i) {
      const uint64_t at = (20 << 20) + i * kBlock;
      ASSERT_TRUE(Same(ImageBytes(at, small[i].size()), small[i])) << "small file " << i;
      ASSERT_TRUE(Same(ImageBytes(at + small[i].size(), kBlock - small[i].size() % kBlock),
                std::string(kBlock - small[i].size() % kBlock, '\0')));
    }
    EXPECT_TRUE(Same(ImageBytes((20 << 20) + small.size() * kBlock, kBlock), std::string(kBlock, '\0')))
        << "the block after the last small file is untouched";
    EXPECT_TRUE(Same(ImageBytes(kUntouched, kBlock), std::string(kBlock, 'x'))) << "nothing written past the files";
  }
}

// A sparse file's map can start a piece inside the block where the previous piece
// ended: the first goes directly (its block padded with zeros), the second through the
// page cache after it, and the block holds both.
TEST_F(DataCopy, APieceStartingInsideADirectlyWrittenBlockIsKept) {
  const std::string first = Pattern((1 << 20) + 100, 3), second = Pattern(3000, 4);
  const uint64_t image_at = 4 << 20, gap = 500;
  const std::vector<Piece> pieces = {{Spool(first), image_at, first.size()},
                                     {Spool(second), image_at + first.size() + gap, second.size()}};
  auto direct = ReopenForDirectWrites(image_.get());
  ASSERT_TRUE(direct.ok()) << direct.error().message;
  CopyAll(direct->get(), pieces);
  EXPECT_TRUE(Same(ImageBytes(image_at, first.size()), first));
  EXPECT_TRUE(Same(ImageBytes(image_at + first.size(), gap), std::string(gap, '\0')));
  EXPECT_TRUE(Same(ImageBytes(image_at + first.size() + gap, second.size()), second));
}

}  // namespace
}  // namespace banger::imager
