// The Debian root filesystems the boot and bookworm tests start from, built first by a
// ctest fixture of their own (FIXTURES_SETUP debian_rootfs, tests/CMakeLists.txt):
// mmdebstrap then runs on one core while other tests use the other, rather than inside a
// boot test that holds both of ctest's slots. Run alone, those tests build what is
// missing themselves (debian_rootfs.h).
#include <gtest/gtest.h>

#include "tests/support/debian_rootfs.h"

namespace banger::testing {
namespace {

TEST(DebianRootfsFixture, BuildsTheBookwormTarballs) {
  for (const DebianRootfs& rootfs : {BookwormSystemd(), BookwormOpenRc()}) {
    EXPECT_NE(DebianRootfsTar(rootfs), "") << rootfs.name;
  }
}

}  // namespace
}  // namespace banger::testing
