#include "ipc/frame.h"

#include <gtest/gtest.h>

#include <vector>

namespace banger::ipc {
namespace {

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(Frame, EveryDeclaredTypeRoundTrips) {
  for (const MessageSpec& spec : AllMessageSpecs()) {
    const std::string body = std::string("body of ") + spec.name;
    std::string frame = EncodeFrame(spec.type, body);
    auto decoded = DecodeFrame(Bytes(frame));
    ASSERT_TRUE(decoded) << spec.name << ": " << decoded.error().message;
    EXPECT_EQ(decoded->spec->type, spec.type);
    EXPECT_EQ(decoded->body, body);
  }
}

TEST(Frame, EmptyBodyRoundTrips) {
  std::string frame = EncodeFrame(MessageType::kShutdown, "");
  ASSERT_EQ(frame.size(), kFrameHeaderBytes);
  auto decoded = DecodeFrame(Bytes(frame));
  ASSERT_TRUE(decoded);
  EXPECT_TRUE(decoded->body.empty());
}

TEST(Frame, ShortHeaderIsTruncated) {
  std::string frame = EncodeFrame(MessageType::kPing, "abc").substr(0, 5);
  auto decoded = DecodeFrame(Bytes(frame));
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().code, ErrorCode::kTruncated);
  EXPECT_NE(decoded.error().message.find("truncated frame"), std::string::npos);
}

TEST(Frame, BodyShorterThanDeclaredIsTruncated) {
  std::string frame = EncodeFrame(MessageType::kPing, "abcdef");
  frame.pop_back();
  auto decoded = DecodeFrame(Bytes(frame));
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().code, ErrorCode::kTruncated);
  EXPECT_NE(decoded.error().message.find("declares 6"), std::string::npos) << decoded.error().message;
}

TEST(Frame, StrayBytesAfterBodyAreMalformed) {
  std::string frame = EncodeFrame(MessageType::kPing, "abc") + "xx";
  auto decoded = DecodeFrame(Bytes(frame));
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().code, ErrorCode::kMalformed);
}

TEST(Frame, OversizedBodyIsRefusedBeforeAnythingElse) {
  std::string frame = EncodeFrame(MessageType::kPing, std::string(100, 'x'));
  auto decoded = DecodeFrame(Bytes(frame), 99);
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().code, ErrorCode::kOversized);
  // A header that claims 4 GiB is refused without reading further.
  std::string huge = EncodeFrame(MessageType::kPing, "");
  huge[4] = huge[5] = huge[6] = huge[7] = '\xff';
  auto refused = DecodeFrame(Bytes(huge));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kOversized);
}

TEST(Frame, UnknownTypeIsNamed) {
  std::string frame = EncodeFrame(MessageType::kPing, "");
  frame[0] = '\x77';
  frame[1] = '\x01';
  auto decoded = DecodeFrame(Bytes(frame));
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().code, ErrorCode::kUnknownType);
  EXPECT_EQ(decoded.error().message, "unknown message type 375");
}

TEST(Frame, GarbageNeverDecodes) {
  const std::vector<std::string> garbage = {"", std::string(1, '\0'), "GET / HTTP/1.1\r\n\r\n",
                                            std::string(64, '\xff'), std::string(8, '\0')};
  for (const std::string& g : garbage) {
    EXPECT_FALSE(DecodeFrame(Bytes(g))) << "decoded garbage of " << g.size() << " bytes";
  }
}

TEST(Frame, FdCountsFollowTheTable) {
  for (const MessageSpec& spec : AllMessageSpecs()) {
    EXPECT_TRUE(CheckFdCount(spec, spec.min_fds)) << spec.name;
    EXPECT_TRUE(CheckFdCount(spec, spec.max_fds)) << spec.name;
    auto too_many = CheckFdCount(spec, spec.max_fds + 1u);
    ASSERT_FALSE(too_many) << spec.name;
    EXPECT_EQ(too_many.error().code, ErrorCode::kTooManyFds);
  }
}

TEST(MessageTable, TypesAndNamesAreUnique) {
  auto specs = AllMessageSpecs();
  for (size_t i = 0; i < specs.size(); ++i) {
    EXPECT_LE(specs[i].max_fds, kMaxFdsPerMessage);
    EXPECT_LE(specs[i].min_fds, specs[i].max_fds);
    for (size_t j = i + 1; j < specs.size(); ++j) {
      EXPECT_NE(specs[i].type, specs[j].type);
      EXPECT_STRNE(specs[i].name, specs[j].name);
    }
  }
}

}  // namespace
}  // namespace banger::ipc
