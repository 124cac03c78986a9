#include "base/sha256.h"

#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "base/digest.h"
#include "base/fd.h"

namespace banger {
namespace {

// FIPS 180-2's test vectors.
constexpr const char* kAbc = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr const char* kEmpty = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(Sha256DigestOf("abc"), kAbc);
  EXPECT_EQ(Sha256DigestOf(""), kEmpty);
}

TEST(Sha256, IncrementalEqualsWhole) {
  std::string bytes;
  for (int i = 0; i < 100000; ++i) bytes += static_cast<char>(i * 7);
  Sha256 hash;
  for (size_t at = 0; at < bytes.size(); at += 977) hash.Update(std::string_view(bytes).substr(at, 977));
  EXPECT_EQ(Sha256Digest(hash.Finish()), Sha256DigestOf(bytes));
}

TEST(Sha256, OfAFileFromOffsetZeroWithItsSize) {
  UniqueFd fd(::memfd_create("sha-test", MFD_CLOEXEC));
  ASSERT_TRUE(WriteAll(fd.get(), "abc", "writing"));  // the offset is now 3: pread ignores it
  uint64_t size = 0;
  auto digest = Sha256OfFd(fd.get(), &size);
  ASSERT_TRUE(digest);
  EXPECT_EQ(*digest, kAbc);
  EXPECT_EQ(size, 3u);
}

}  // namespace
}  // namespace banger
