// Sizing with real volume: more than 700 MB of content gives content x 1.5, rounded to a
// block. Slow (it writes about a gigabyte), so it carries the `slow` label.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "tests/imager/image_harness.h"

namespace banger::testing {
namespace {

TEST(LargeImage, ContentOverSevenHundredMegabytesIsSizedAtOneAndAHalf) {
  ScratchDir dir("banger-large");
  std::vector<BuiltLayer> layers = {
      BuildLayer(
          Layer({LayerEntry::File("data/a").FillBytes(400 << 20), LayerEntry::File("data/b").FillBytes(330 << 20)}, "none"),
          dir)};
  const std::string image = dir.path() + "/large.ext4";
  auto built = BuildRootfs(layers, image);
  ASSERT_TRUE(built) << built.error().message;
  const uint64_t content = built->image_done["content_bytes"];
  const uint64_t size = built->image_done["filesystem_bytes"];
  EXPECT_GE(content, 730ull << 20);
  EXPECT_EQ(size, (content * 3 / 2 + 4095) / 4096 * 4096) << "content x 1.5, rounded up to a block";
  struct stat st {};
  ASSERT_EQ(::stat(image.c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), size);
  CommandResult fsck = Fsck(image);
  EXPECT_EQ(fsck.exit_status, 0) << fsck.output;
  EXPECT_LT(built->imager_peak_rss_kib, 64u * 1024) << "imager peak RSS, KiB";
}

}  // namespace
}  // namespace banger::testing
