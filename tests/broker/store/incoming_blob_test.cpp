// A blob on its way into the cache (IncomingBlob): only the broker writes the file, the
// bytes a helper sends through a pipe land in it and are hashed as they come, and nothing
// reaches its final name unless exactly the declared bytes arrived.
#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "base/fd.h"
#include "base/sha256.h"
#include "broker/store/blob_cache.h"
#include "tests/support/test_support.h"

namespace banger::broker {
namespace {

using testing::ScratchDir;

class IncomingBlobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = BlobCache::Open(root_.path() + "/cache");
    ASSERT_TRUE(opened) << opened.error().message;
    cache_.emplace(std::move(*opened));
  }
  // Writes `bytes` into a pipe and closes it; the read end, non-blocking.
  static UniqueFd PipeHolding(const std::string& bytes) {
    auto pipe = CreatePipe(bytes.size() + 4096, true);
    EXPECT_TRUE(pipe);
    EXPECT_TRUE(WriteAll(pipe->write.get(), bytes, "pipe"));
    return std::move(pipe->read);
  }
  // Receives everything the pipe holds.
  static Result<uint64_t> ReceiveAll(IncomingBlob& blob, int pipe) {
    for (;;) {
      BANGER_ASSIGN_OR_RETURN(Spliced moved, blob.ReceiveFrom(pipe));
      if (moved.end) return blob.received();
    }
  }
  ScratchDir root_{"banger-incoming"};
  std::optional<BlobCache> cache_;
};

// More than one hash run (4 MiB), so the hash is built from several maps of the file.
std::string Bytes(size_t size) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>((i * 7919) >> 5);
  return bytes;
}

TEST_F(IncomingBlobTest, BytesFromAPipeAreVerifiedAndLinkedInMode0600) {
  const std::string bytes = Bytes(9 << 20);
  const std::string digest = Sha256DigestOf(bytes);
  auto blob = cache_->Begin(digest, bytes.size(), "layer");
  ASSERT_TRUE(blob) << blob.error().message;
  auto pipe = CreatePipe(1 << 20, true);
  ASSERT_TRUE(pipe);
  // A writer on another thread, as the fetcher is: the pipe holds only a part at a time.
  std::thread writer([&] { EXPECT_TRUE(WriteAll(pipe->write.get(), bytes, "pipe")); pipe->write.reset(); });
  for (bool ended = false; !ended;) {
    auto moved = blob->ReceiveFrom(pipe->read.get());
    ASSERT_TRUE(moved) << moved.error().message;
    ended = moved->end;
    if (moved->bytes == 0 && !ended) ::usleep(1000);
  }
  writer.join();
  ASSERT_TRUE(blob->Commit());
  auto cached = cache_->OpenBlob(digest, bytes.size());
  ASSERT_TRUE(cached);
  EXPECT_EQ(*Sha256OfFd(cached->get()), digest);
  struct stat st {};
  ASSERT_EQ(::fstat(cached->get(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u) << "no local user reads a cached blob";
}

TEST_F(IncomingBlobTest, AByteMoreThanDeclaredIsRefusedAsItArrives) {
  const std::string bytes = Bytes(1000);
  auto blob = cache_->Begin(Sha256DigestOf(bytes), bytes.size() - 1, "layer");
  ASSERT_TRUE(blob);
  UniqueFd pipe = PipeHolding(bytes);
  auto received = ReceiveAll(*blob, pipe.get());
  ASSERT_FALSE(received);
  EXPECT_EQ(received.error().code, ErrorCode::kMalformed);
  EXPECT_NE(received.error().message.find("more than the 999 bytes"), std::string::npos) << received.error().message;
}

TEST_F(IncomingBlobTest, ShortOrWrongBytesNeverGetTheName) {
  const std::string bytes = Bytes(5000);
  const std::string digest = Sha256DigestOf(bytes);
  {
    auto blob = cache_->Begin(digest, bytes.size(), "layer");
    UniqueFd pipe = PipeHolding(bytes.substr(0, 4999));
    ASSERT_TRUE(ReceiveAll(*blob, pipe.get()));
    auto committed = blob->Commit();
    ASSERT_FALSE(committed);
    EXPECT_NE(committed.error().message.find("got 4999 bytes, expected 5000"), std::string::npos);
  }
  {
    std::string wrong = bytes;
    wrong[4321] ^= 1;
    auto blob = cache_->Begin(digest, bytes.size(), "layer");
    UniqueFd pipe = PipeHolding(wrong);
    ASSERT_TRUE(ReceiveAll(*blob, pipe.get()));
    auto committed = blob->Commit();
    ASSERT_FALSE(committed);
    EXPECT_NE(committed.error().message.find("digest mismatch"), std::string::npos);
  }
  EXPECT_FALSE(cache_->Contains(digest, bytes.size()));
}

TEST_F(IncomingBlobTest, TheFileIsNotWritableThroughAReadOnlyView) {
  const std::string bytes = Bytes(100);
  auto blob = cache_->Begin(Sha256DigestOf(bytes), bytes.size(), "layer");
  ASSERT_TRUE(blob);
  auto view = ReopenReadOnly(blob->fd());
  ASSERT_TRUE(view);
  EXPECT_EQ(::pwrite(view->get(), "x", 1, 0), -1) << "what the unpacker gets while the file fills";
  EXPECT_EQ(::ftruncate(view->get(), 0), -1);
}

}  // namespace
}  // namespace banger::broker
