// The pieces of the imager's one-write files (imager/file_inode.h): how many extents a
// file's runs take, each at most 32768 blocks.
#include "imager/file_inode.h"

#include <gtest/gtest.h>

namespace banger::imager {
namespace {

TEST(FileExtents, ARunLongerThanOneExtentTakesSeveral) {
  EXPECT_EQ(ExtentsFor({{0, 0, kMaxExtentBlocks}}), 1u);
  EXPECT_EQ(ExtentsFor({{0, 0, kMaxExtentBlocks + 1}, {kMaxExtentBlocks + 5, 0, 1}}), 3u);
  EXPECT_EQ(ExtentsFor({}), 0u);
}

}  // namespace
}  // namespace banger::imager
