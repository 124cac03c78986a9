// Mapping a file onto the data region (imager/region_map.h): runs follow the spool
// offsets, and every way a compromised unpacker could point a file elsewhere is refused.
#include "imager/region_map.h"

#include <gtest/gtest.h>

namespace banger::imager {
namespace {

constexpr uint64_t kRegionBlock = 4096;
constexpr uint64_t kRegionStart = 16 << 20, kRegionEnd = kRegionStart + (64 << 20);

ipc::TreeEntry RegionFile(std::vector<ipc::Extent> extents) {
  ipc::TreeEntry entry;
  entry.kind = ipc::EntryKind::kRegular;
  uint64_t size = 0;
  for (const auto& x : extents) size = std::max(size, x.file_offset + x.length);
  entry.size = size;
  entry.extents = std::move(extents);
  return entry;
}

TEST(RegionRuns, FollowTheSpoolAndMergeWhereBothContinue) {
  // Two blocks, a hole, a block; then a sparse piece inside the last block.
  auto runs = RegionRuns(RegionFile({{0, 2 * kRegionBlock, kRegionStart},
                                   {3 * kRegionBlock, 100, kRegionStart + 2 * kRegionBlock},
                                   {3 * kRegionBlock + 2000, 50, kRegionStart + 2 * kRegionBlock + 2000}}),
                         kRegionStart, kRegionEnd, kRegionBlock);
  ASSERT_TRUE(runs.ok()) << runs.error().message;
  ASSERT_EQ(runs->size(), 2u);
  EXPECT_EQ((*runs)[0].logical, 0u);
  EXPECT_EQ((*runs)[0].physical, kRegionStart / kRegionBlock);
  EXPECT_EQ((*runs)[0].count, 2u);
  EXPECT_EQ((*runs)[1].logical, 3u);
  EXPECT_EQ((*runs)[1].physical, kRegionStart / kRegionBlock + 2);
  EXPECT_EQ((*runs)[1].count, 1u);
}

TEST(RegionRuns, RefuseEveryPlaceOutsideTheirOwn) {
  struct Case {
    const char* what;
    std::vector<ipc::Extent> extents;
    const char* says;
  };
  const Case cases[] = {
      {"before the region", {{0, 100, kRegionStart - kRegionBlock}}, "outside the data region"},
      {"past its end", {{0, 2 * kRegionBlock, kRegionEnd - kRegionBlock}}, "outside the data region"},
      {"wrapping around", {{0, kRegionBlock, ~uint64_t{0} - 10}}, "outside the data region"},
      {"off its block", {{0, 100, kRegionStart + 512}}, "off their block's place"},
      {"one block in two places", {{0, 100, kRegionStart}, {200, 100, kRegionStart + kRegionBlock + 200}}, "different places"},
  };
  for (const Case& c : cases) {
    auto runs = RegionRuns(RegionFile(c.extents), kRegionStart, kRegionEnd, kRegionBlock);
    ASSERT_FALSE(runs.ok()) << c.what;
    EXPECT_EQ(runs.error().code, ErrorCode::kMalformed) << c.what;
    EXPECT_NE(runs.error().message.find(c.says), std::string::npos) << c.what << ": " << runs.error().message;
  }
}

TEST(ClaimMap, ABlockIsClaimedOnceAndTheRestIsFreeAgain) {
  ClaimMap map(100, 50);
  EXPECT_TRUE(map.Claim(100, 10));
  EXPECT_TRUE(map.Claim(120, 5));
  EXPECT_FALSE(map.Claim(109, 2)) << "overlaps the first claim";
  EXPECT_TRUE(map.Claim(110, 2)) << "the refused claim took nothing";
  EXPECT_FALSE(map.Claim(99, 1)) << "before the region";
  EXPECT_FALSE(map.Claim(149, 2)) << "past the region";
  EXPECT_TRUE(map.Claim(149, 1));
  const auto free = map.Unclaimed();
  ASSERT_EQ(free.size(), 2u);
  EXPECT_EQ(free[0].physical, 112u);
  EXPECT_EQ(free[0].count, 8u);
  EXPECT_EQ(free[1].physical, 125u);
  EXPECT_EQ(free[1].count, 24u);
}

}  // namespace
}  // namespace banger::imager
