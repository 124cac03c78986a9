#include "base/base64.h"
#include "base/json.h"

#include <gtest/gtest.h>

namespace banger {
namespace {

TEST(Json, NestingBombIsRefused) {
  std::string bomb(100000, '[');
  auto parsed = ParseJsonBounded(bomb, 32);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, ErrorCode::kMalformed);
  EXPECT_NE(parsed.error().message.find("deeper than 32"), std::string::npos);
  EXPECT_TRUE(ParseJsonBounded(R"({"a": [1, {"b": 2}]})", 32));
  EXPECT_FALSE(ParseJsonBounded("{not json", 32));
}

TEST(Json, BracketsInStringsAreNotNesting) {
  EXPECT_TRUE(ParseJsonBounded(R"({"a": "[[[[[[", "b": "\\\"{{{{"})", 2));
  EXPECT_TRUE(ParseJsonBounded("[[1]]", 2));
  EXPECT_FALSE(ParseJsonBounded("[[[1]]]", 2));
}

// Four MiB of sibling objects, what a peer may send: parsed in one pass. nlohmann's
// parser callback, used for the depth bound before, rescanned the parent array after
// each object and took minutes of the broker's CPU (the test's timeout catches that).
TEST(Json, ManySiblingsParseInOnePass) {
  std::string many = "[";
  while (many.size() < (4u << 20)) many += "{},";
  many += "{}]";
  auto parsed = ParseJsonBounded(many, 4);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_GT(parsed->size(), 1000000u);
}

TEST(Json, DumpReplacesBytesThatAreNotUtf8AndIsAscii) {
  const std::string dumped = DumpJson(nlohmann::json{{"name", std::string("a\xff" "b")}});
  EXPECT_EQ(dumped, "{\"name\":\"a\\ufffdb\"}");
  // Nothing a terminal acts on: escape, DEL, a C1 control (U+009B, CSI) and a bidi override.
  const std::string hostile = DumpJson(nlohmann::json{{"m", std::string("\x1b[2J\x7f\xc2\x9b\xe2\x80\xae")}});
  EXPECT_EQ(hostile, "{\"m\":\"\\u001b[2J\\u007f\\u009b\\u202e\"}");
}

TEST(Json, StrictParsingRefusesAKeyTwiceInOneObjectOnly) {
  EXPECT_TRUE(ParseJsonStrict(R"({"a": {"b": 1}, "c": {"b": 2}, "d": [{"b": 1}, {"b": 2}]})"));
  auto twice = ParseJsonStrict(R"({"a": {"b": 1, "b": 2}})");
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().message, "invalid JSON: the key \"b\" appears twice in one object");
  EXPECT_FALSE(ParseJsonStrict(R"({"a": 1, "\u0061": 2})")) << "the same key, escaped";
  EXPECT_FALSE(ParseJsonStrict("{\"a\": 1,}")) << "still JSON first";
}

TEST(Json, FieldOrNullNeverReadsAMissingKey) {
  const nlohmann::json object = {{"a", 1}};
  EXPECT_EQ(FieldOrNull(object, "a"), 1);
  EXPECT_TRUE(FieldOrNull(object, "missing").is_null());
  EXPECT_TRUE(FieldOrNull(nlohmann::json::array(), "a").is_null());
  EXPECT_TRUE(FieldOrNull(FieldOrNull(object, "missing"), "deeper").is_null());
}

TEST(Base64, DecodesOnlyStrictPaddedBase64) {
  EXPECT_EQ(*DecodeBase64("QUJD"), "ABC");
  EXPECT_EQ(*DecodeBase64("QUI="), "AB");
  EXPECT_EQ(*DecodeBase64("QQ=="), "A");
  EXPECT_EQ(*DecodeBase64(""), "");
  for (const char* bad : {"QQ==QUJD", "A===", "====", "QUJD    ", "QQ==\n\n\n\n", "QUJ", "QU!D", "QU\nD"}) {
    EXPECT_FALSE(DecodeBase64(bad)) << bad;
  }
  EXPECT_EQ(EncodeBase64("ABC"), "QUJD");
  EXPECT_EQ(EncodeBase64("A"), "QQ==");
  const std::string bytes("\x00\xff\x10 binary", 10);
  EXPECT_EQ(*DecodeBase64(EncodeBase64(bytes)), bytes);
}

}  // namespace
}  // namespace banger
