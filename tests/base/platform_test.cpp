// The broker reads an image's platform from its verified config with this decoder: the
// fields an image.json records, refused when absent or of the wrong type.
#include "base/platform.h"

#include <gtest/gtest.h>

namespace banger {
namespace {

TEST(PlatformFromConfig, ReadsOsArchitectureAndVariant) {
  auto arm = PlatformFromConfig(R"({"os":"linux","architecture":"arm64","variant":"v8","rootfs":{}})");
  ASSERT_TRUE(arm) << arm.error().message;
  EXPECT_EQ(arm->String(), "linux/arm64/v8");
  auto plain = PlatformFromConfig(R"({"architecture":"x86_64","os":"linux"})");
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_EQ(plain->String(), "linux/amd64") << "normalised as --platform is";
}

TEST(PlatformFromConfig, RefusesMissingOrMistypedFields) {
  for (const char* config : {R"({"os":"linux"})", R"({"architecture":"amd64"})", R"([])", R"("linux/amd64")",
                             R"({"os":"linux","architecture":7})", R"({"os":["linux"],"architecture":"amd64"})",
                             R"({"os":"linux","architecture":"amd64","variant":{}})",
                             R"({"os":"Linux","architecture":"amd64"})", R"({"os":"linux","architecture":"a/b"})",
                             "{not json"}) {
    auto platform = PlatformFromConfig(config);
    EXPECT_FALSE(platform) << config;
    if (!platform) {
      EXPECT_EQ(platform.error().code, ErrorCode::kMalformed) << config;
    }
  }
}

TEST(PlatformMatches, VariantsAsDockerNormalisesThem) {
  const Platform arm64{"linux", "arm64", ""}, arm64v8{"linux", "arm64", "v8"}, armv7{"linux", "arm", "v7"};
  EXPECT_TRUE(PlatformMatches(arm64, *ParsePlatform("linux/arm64/v8"))) << "arm64 without a variant is v8";
  EXPECT_TRUE(PlatformMatches(arm64v8, *ParsePlatform("linux/arm64")));
  EXPECT_FALSE(PlatformMatches(armv7, *ParsePlatform("linux/arm/v6")));
  EXPECT_FALSE(PlatformMatches(arm64, *ParsePlatform("windows/arm64")));
}

}  // namespace
}  // namespace banger
