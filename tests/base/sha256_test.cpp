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

// Runs of a file at offsets that are not page-aligned, across the 8 MiB map window.
TEST(Sha256, RunsOfAFileThroughItsMapEqualTheWhole) {
  std::string bytes(20 << 20, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 131) >> 3);
  UniqueFd fd(::memfd_create("sha-test", MFD_CLOEXEC));
  ASSERT_TRUE(WriteAll(fd.get(), bytes, "writing"));
  Sha256 hash;
  uint64_t at = 0;
  for (uint64_t run : {1ull, 4095ull, 4097ull, (9ull << 20) + 3, 123457ull}) {
    ASSERT_TRUE(hash.UpdateFromFile(fd.get(), at, run, "test file"));
    at += run;
  }
  ASSERT_TRUE(hash.UpdateFromFile(fd.get(), at, bytes.size() - at, "test file"));
  EXPECT_EQ(Sha256Digest(hash.Finish()), Sha256DigestOf(bytes));
}

TEST(SpliceFromPipe, MovesWhatThePipeHoldsAndSaysWhenItEnded) {
  auto pipe = CreatePipe(0, true);
  ASSERT_TRUE(pipe);
  UniqueFd file(::memfd_create("splice-test", MFD_CLOEXEC));
  auto empty = SpliceFromPipe(pipe->read.get(), file.get(), 0, 100, "test");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->bytes, 0u);
  EXPECT_FALSE(empty->end) << "an empty pipe whose writer is there has not ended";
  ASSERT_TRUE(WriteAll(pipe->write.get(), "hello", "pipe"));
  pipe->write.reset();
  auto first = SpliceFromPipe(pipe->read.get(), file.get(), 10, 3, "test");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->bytes, 3u) << "no more than asked";
  auto rest = SpliceFromPipe(pipe->read.get(), file.get(), 13, 100, "test");
  ASSERT_TRUE(rest);
  EXPECT_EQ(rest->bytes, 2u);
  auto end = SpliceFromPipe(pipe->read.get(), file.get(), 15, 100, "test");
  ASSERT_TRUE(end);
  EXPECT_TRUE(end->end);
  char got[5] = {};
  ASSERT_EQ(::pread(file.get(), got, 5, 10), 5);
  EXPECT_EQ(std::string(got, 5), "hello");
}

}  // namespace
}  // namespace banger
