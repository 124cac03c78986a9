#include "ipc/channel.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "ipc/frame.h"

namespace banger::ipc {
namespace {

UniqueFd MemfdWith(const std::string& content) {
  UniqueFd fd(::memfd_create("channel-test", MFD_CLOEXEC));
  EXPECT_EQ(::write(fd.get(), content.data(), content.size()), static_cast<ssize_t>(content.size()));
  return fd;
}

std::string ReadAll(int fd) {
  std::string out;
  char buffer[256];
  ssize_t n;
  off_t offset = 0;
  while ((n = ::pread(fd, buffer, sizeof buffer, offset)) > 0) {
    out.append(buffer, static_cast<size_t>(n));
    offset += n;
  }
  return out;
}

size_t OpenFdCount() {
  size_t count = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  while (dirent* entry = ::readdir(dir)) count += entry->d_name[0] != '.';
  ::closedir(dir);
  return count;
}

// Sends raw bytes and raw descriptors, bypassing Channel::Send's own checks.
void SendRaw(int socket, const std::string& bytes, const std::vector<int>& fds = {}) {
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control;
  if (!fds.empty()) {
    control.resize(CMSG_SPACE(sizeof(int) * fds.size()));
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ASSERT_GE(::sendmsg(socket, &msg, 0), 0) << std::strerror(errno);
}

class ChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pair = Channel::CreatePair();
    ASSERT_TRUE(pair) << pair.error().message;
    a_ = std::move(pair->first);
    b_ = std::move(pair->second);
    b_.set_peer_name("test peer");
  }
  Channel a_, b_;
};

TEST_F(ChannelTest, EveryTypeRoundTripsWithoutFds) {
  for (const MessageSpec& spec : AllMessageSpecs()) {
    if (spec.min_fds > 0) continue;
    Message sent = Message::WithJson(spec.type, {{"type", spec.name}, {"n", 42}});
    ASSERT_TRUE(a_.Send(sent)) << spec.name;
    auto got = b_.Receive(1000);
    ASSERT_TRUE(got) << spec.name << ": " << got.error().message;
    EXPECT_EQ(got->type, spec.type);
    EXPECT_EQ(got->body, sent.body);
    EXPECT_TRUE(got->fds.empty());
  }
}

TEST_F(ChannelTest, EveryTypeRoundTripsWithItsMostFds) {
  for (const MessageSpec& spec : AllMessageSpecs()) {
    Message sent = Message::Make(spec.type, spec.name);
    for (int i = 0; i < spec.max_fds; ++i) sent.fds.push_back(MemfdWith(std::string(spec.name) + "#" + std::to_string(i)));
    ASSERT_TRUE(a_.Send(sent)) << spec.name;
    auto got = b_.Receive(1000);
    ASSERT_TRUE(got) << spec.name << ": " << got.error().message;
    ASSERT_EQ(got->fds.size(), spec.max_fds) << spec.name;
    for (int i = 0; i < spec.max_fds; ++i) {
      EXPECT_EQ(ReadAll(got->fds[i].get()), std::string(spec.name) + "#" + std::to_string(i));
      EXPECT_TRUE(::fcntl(got->fds[i].get(), F_GETFD) & FD_CLOEXEC) << "received fds must be O_CLOEXEC";
    }
  }
}

TEST_F(ChannelTest, FdsOnATypeThatTakesNoneAreRefusedAndClosed) {
  const size_t before = OpenFdCount();
  {
    UniqueFd extra = MemfdWith("x");
    SendRaw(a_.fd(), EncodeFrame(MessageType::kLocked, "{}"), {extra.get()});
  }
  auto got = b_.Receive(1000);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, ErrorCode::kTooManyFds);
  EXPECT_NE(got.error().message.find("locked"), std::string::npos) << got.error().message;
  EXPECT_EQ(OpenFdCount(), before) << "a refused message leaked its fds";
}

TEST_F(ChannelTest, MoreFdsThanTheChannelBoundIsRefusedWithoutLeaks) {
  const size_t before = OpenFdCount();
  {
    std::vector<UniqueFd> owned;
    std::vector<int> raw;
    for (size_t i = 0; i < kMaxFdsPerMessage + 8; ++i) {
      owned.push_back(MemfdWith("y"));
      raw.push_back(owned.back().get());
    }
    SendRaw(a_.fd(), EncodeFrame(MessageType::kPing, ""), raw);
  }
  auto got = b_.Receive(1000);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, ErrorCode::kTooManyFds) << got.error().message;
  EXPECT_EQ(OpenFdCount(), before);
}

TEST_F(ChannelTest, SendRefusesTooManyFdsForTheType) {
  Message m = Message::Make(MessageType::kShutdown);
  m.fds.push_back(MemfdWith("z"));
  auto sent = a_.Send(m);
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().code, ErrorCode::kTooManyFds);
}

TEST_F(ChannelTest, OversizedDatagramIsRefused) {
  SendRaw(a_.fd(), EncodeFrame(MessageType::kPing, std::string(kMaxBodyBytes + 100, 'o')));
  auto got = b_.Receive(1000);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, ErrorCode::kOversized) << got.error().message;
  EXPECT_NE(got.error().message.find("test peer"), std::string::npos) << "errors name the peer";
}

TEST_F(ChannelTest, SendRefusesOversizedBody) {
  auto sent = a_.Send(Message::Make(MessageType::kPing, std::string(kMaxBodyBytes + 1, 'o')));
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().code, ErrorCode::kOversized);
}

TEST_F(ChannelTest, TruncatedAndGarbageFramesAreRefused) {
  SendRaw(a_.fd(), "abc");
  auto short_frame = b_.Receive(1000);
  ASSERT_FALSE(short_frame);
  EXPECT_EQ(short_frame.error().code, ErrorCode::kTruncated);

  std::string lying = EncodeFrame(MessageType::kPing, "0123456789");
  SendRaw(a_.fd(), lying.substr(0, lying.size() - 4));
  auto truncated = b_.Receive(1000);
  ASSERT_FALSE(truncated);
  EXPECT_EQ(truncated.error().code, ErrorCode::kTruncated);

  SendRaw(a_.fd(), std::string("\x99\x99\x99\x99\x00\x00\x00\x00", 8));
  auto unknown = b_.Receive(1000);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kUnknownType);

  // The channel stays usable after refusing bad frames.
  ASSERT_TRUE(a_.Send(Message::Make(MessageType::kPing, "still here")));
  auto good = b_.Receive(1000);
  ASSERT_TRUE(good);
  EXPECT_EQ(good->body, "still here");
}

TEST_F(ChannelTest, PeerThatHungUpIsNamed) {
  a_ = Channel();
  auto got = b_.Receive(1000);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, ErrorCode::kPeerClosed);
  EXPECT_EQ(got.error().message, "test peer hung up");
  auto sent = b_.Send(Message::Make(MessageType::kPing));
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().code, ErrorCode::kPeerClosed);
}

// TrySend never waits: once the peer's queue is full it says so and sends nothing, and
// what it did send arrives whole, in order.
TEST_F(ChannelTest, TrySendDropsWhatAFullQueueCannotTake) {
  size_t sent = 0;
  for (;; ++sent) {
    ASSERT_LT(sent, 100000u) << "the queue never filled";
    auto tried = a_.TrySend(Message::Make(MessageType::kPing));
    ASSERT_TRUE(tried) << tried.error().message;
    if (!*tried) break;
  }
  EXPECT_GT(sent, 0u);
  for (size_t i = 0; i < sent; ++i) {
    auto got = b_.Receive(1000);
    ASSERT_TRUE(got) << "message " << i << ": " << got.error().message;
    EXPECT_EQ(got->type, MessageType::kPing);
  }
  auto none = b_.Receive(50);
  ASSERT_FALSE(none) << "the refused message was sent after all";
  EXPECT_EQ(none.error().code, ErrorCode::kTimeout);
  auto again = a_.TrySend(Message::Make(MessageType::kPing));
  ASSERT_TRUE(again);
  EXPECT_TRUE(*again) << "the queue has room once read";
}

TEST_F(ChannelTest, ReceiveTimesOut) {
  auto got = b_.Receive(50);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, ErrorCode::kTimeout);
}

TEST_F(ChannelTest, ReceiveExpectingRefusesOutOfTurnMessagesAndRelaysErrors) {
  ASSERT_TRUE(a_.Send(Message::Make(MessageType::kPong)));
  auto wrong = b_.ReceiveExpecting({MessageType::kLocked}, 1000);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, ErrorCode::kUnexpected);
  EXPECT_NE(wrong.error().message.find("'pong' where locked was expected"), std::string::npos)
      << wrong.error().message;

  ASSERT_TRUE(a_.Send(MakeErrorMessage(Error{ErrorCode::kMalformed, "layer 3 is not gzip"})));
  auto relayed = b_.ReceiveExpecting({MessageType::kLocked}, 1000);
  ASSERT_FALSE(relayed);
  EXPECT_EQ(relayed.error().message, "layer 3 is not gzip");
  EXPECT_EQ(relayed.error().code, ErrorCode::kMalformed);

  // A peer cannot pass its failure off as a sandbox verdict.
  ASSERT_TRUE(a_.Send(MakeErrorMessage(Error{ErrorCode::kSandbox, "all fine here"})));
  auto claimed = b_.ReceiveExpecting({MessageType::kLocked}, 1000);
  ASSERT_FALSE(claimed);
  EXPECT_EQ(claimed.error().code, ErrorCode::kChildFailed);
}

}  // namespace
}  // namespace banger::ipc
