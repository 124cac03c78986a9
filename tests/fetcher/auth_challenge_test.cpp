#include "fetcher/auth_challenge.h"

#include <gtest/gtest.h>

namespace banger::fetcher {
namespace {

TEST(AuthChallenge, DockerHubBearer) {
  auto c = ParseAuthChallenges(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull")");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].scheme, "bearer");
  EXPECT_EQ(c[0].Param("realm"), "https://auth.docker.io/token");
  EXPECT_EQ(c[0].Param("service"), "registry.docker.io");
  EXPECT_EQ(c[0].Param("scope"), "repository:library/alpine:pull");
}

TEST(AuthChallenge, SeveralChallengesAndQuotedCommas) {
  auto c = ParseAuthChallenges(
      R"(Basic realm="Registry Realm", Bearer realm="https://a/token", service="svc", scope="repository:x:pull,push",  Newauth realm="apps", type=1, title="Login to \"apps\"")");
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].scheme, "basic");
  EXPECT_EQ(c[0].Param("realm"), "Registry Realm");
  EXPECT_EQ(c[1].scheme, "bearer");
  EXPECT_EQ(c[1].Param("scope"), "repository:x:pull,push");
  EXPECT_EQ(c[2].scheme, "newauth");
  EXPECT_EQ(c[2].Param("type"), "1");
  EXPECT_EQ(c[2].Param("title"), "Login to \"apps\"");
}

TEST(AuthChallenge, CaseInsensitiveNamesAndSpaces) {
  auto c = ParseAuthChallenges("  BEARER   Realm = \"https://r\" , SERVICE=reg  ");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].scheme, "bearer");
  EXPECT_EQ(c[0].Param("realm"), "https://r");
  EXPECT_EQ(c[0].Param("service"), "reg");
}

TEST(AuthChallenge, Token68AndBareSchemes) {
  auto c = ParseAuthChallenges("Negotiate abc123==, Basic");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].scheme, "negotiate");
  EXPECT_TRUE(c[0].params.empty());
  EXPECT_EQ(c[1].scheme, "basic");
}

TEST(AuthChallenge, GarbageYieldsWhatParsed) {
  EXPECT_TRUE(ParseAuthChallenges("").empty());
  EXPECT_TRUE(ParseAuthChallenges("\"quoted\"").empty());
  auto c = ParseAuthChallenges("Bearer realm=\"unterminated");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].scheme, "bearer");
}

}  // namespace
}  // namespace banger::fetcher
