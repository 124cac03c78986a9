// The imager's data copier (imager/data_copy.h) against real files: given an O_DIRECT
// descriptor of the image, whole blocks of file data reach the disk without filling the
// page cache, every byte lands where it belongs (a file's last block padded with zeros,
// a later piece inside that block kept), and without one every byte lands the same.
#include "imager/data_copy.h"

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/fd.h"
#include "tests/support/test_support.h"

namespace banger::imager {
namespace {

constexpr uint64_t kBlockBytes = 4096;
constexpr uint64_t kImageBytes = 64 << 20;

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

// Large files (one ending inside its last block, one whose last piece is under the
// direct threshold), then small neighbours that are gathered: the same bytes whichever
// way they go, nothing past them touched, and the direct way leaves the page cache empty.
TEST_F(DataCopy, WholeBlocksGoToTheDiskPastThePageCacheAndLandWhereTheyBelong) {
  for (bool direct : {true, false}) {
    SCOPED_TRACE(direct ? "direct" : "through the page cache");
    Empty();
    struct Placed {
      std::string bytes;
      uint64_t at;
    };
    std::vector<Placed> files = {{Pattern((5 << 20) + 1234, 1), 1 << 20},
                                 {Pattern(9 << 20, 2), 8 << 20},
                                 {Pattern((4 << 20) + (100 << 10) + 7, 3), 30 << 20}};
    // Neighbours, one block each: gathered into one write of 1.2 MiB.
    for (int i = 0; i < 300; ++i) {
      files.push_back({Pattern(100 + i * 37 % 3900, 10 + i), (20 << 20) + static_cast<uint64_t>(i) * kBlockBytes});
    }
    std::vector<Piece> pieces;
    std::vector<uint64_t> sentinels;  // the block after each file's last, unless another file starts there
    for (const Placed& f : files) {
      pieces.push_back({Spool(f.bytes), f.at, f.bytes.size()});
      sentinels.push_back((f.at + f.bytes.size() + kBlockBytes - 1) / kBlockBytes * kBlockBytes);
    }
    sentinels.erase(sentinels.begin() + 3, sentinels.end() - 1);  // the small files' neighbours are files
    for (uint64_t at : sentinels) ASSERT_TRUE(PwriteAll(image_.get(), std::string(kBlockBytes, 'x'), at, "image").ok());
    ASSERT_EQ(::fdatasync(image_.get()), 0);
    ASSERT_EQ(::posix_fadvise(image_.get(), 0, kImageBytes, POSIX_FADV_DONTNEED), 0);

    UniqueFd direct_fd;
    if (direct) {
      auto opened = ReopenForDirectWrites(image_.get());
      ASSERT_TRUE(opened.ok()) << opened.error().message;
      ASSERT_TRUE(opened->has_value()) << "the tests' scratch has no direct I/O: build on a disk file system";
      direct_fd = std::move(**opened);
    }
    CopyAll(direct ? direct_fd.get() : -1, pieces);
    if (direct) {
      EXPECT_EQ(testing::ResidentPages(image_.get(), files[0].at, files[0].bytes.size()), 0u);
      EXPECT_EQ(testing::ResidentPages(image_.get(), files[1].at, files[1].bytes.size()), 0u);
      EXPECT_EQ(testing::ResidentPages(image_.get(), files[2].at, 4 << 20), 0u);
      EXPECT_EQ(testing::ResidentPages(image_.get(), 20 << 20, 300 * kBlockBytes), 0u);
    }
    for (size_t i = 0; i < files.size(); ++i) {
      const Placed& f = files[i];
      ASSERT_TRUE(Same(ImageBytes(f.at, f.bytes.size()), f.bytes)) << "file " << i;
      const uint64_t rest = (kBlockBytes - f.bytes.size() % kBlockBytes) % kBlockBytes;
      ASSERT_TRUE(Same(ImageBytes(f.at + f.bytes.size(), rest), std::string(rest, '\0')))
          << "file " << i << ": its last block is zeros past its end";
    }
    for (uint64_t at : sentinels) {
      EXPECT_TRUE(Same(ImageBytes(at, kBlockBytes), std::string(kBlockBytes, 'x'))) << "the block at " << at;
    }
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
  ASSERT_TRUE(direct.ok() && direct->has_value());
  CopyAll((*direct)->get(), pieces);
  EXPECT_TRUE(Same(ImageBytes(image_at, first.size()), first));
  EXPECT_TRUE(Same(ImageBytes(image_at + first.size(), gap), std::string(gap, '\0')));
  EXPECT_TRUE(Same(ImageBytes(image_at + first.size() + gap, second.size()), second));
}

// The writes happen on the writer's thread: one that fails there comes back from
// Finish, named, whether the copier was handing it buffers (large runs to the direct
// descriptor, gathered small files) or kernel copies, and nothing waits forever for a
// buffer the writer held.
TEST_F(DataCopy, AWriteThatFailsOnTheWriterThreadIsReported) {
  struct Case {
    const char* what;
    uint64_t piece, count, stride;
    bool direct;
  };
  const Case cases[] = {{"large runs, direct", 2 << 20, 20, 2 << 20, true},
                        {"small files, gathered", 8 << 10, 2000, 8 << 10, true},
                        {"large runs, kernel copies", 2 << 20, 20, 2 << 20, false}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Empty();
    std::vector<Piece> pieces;
    for (uint64_t i = 0; i < c.count; ++i) {
      const std::string bytes = Pattern(c.piece, i);
      pieces.push_back({Spool(bytes), i * c.stride, bytes.size()});
    }
    UniqueFd read_only(::open((dir_.path() + "/image").c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(read_only);
    DataCopier copier(spool_.get(), read_only.get(), c.direct ? read_only.get() : -1);
    for (const Piece& p : pieces) {
      if (!copier.Copy(p.spool_offset, p.image_offset, p.length).ok()) break;  // an early failure comes back here
    }
    auto done = copier.Finish();
    ASSERT_FALSE(done.ok());
    EXPECT_NE(done.error().message.find("into the image"), std::string::npos) << done.error().message;
  }
}

}  // namespace
}  // namespace banger::imager
