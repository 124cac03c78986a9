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

TEST(Json, DumpReplacesBytesThatAreNotUtf8) {
  const std::string dumped = DumpJson(nlohmann::json{{"name", std::string("a\xff" "b")}});
  EXPECT_EQ(dumped, "{\"name\":\"a\xef\xbf\xbd" "b\"}");
}

}  // namespace
}  // namespace banger
