#include "base/reference.h"

#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "base/digest.h"

namespace banger {
namespace {

const std::string kDigest = "sha256:" + std::string(64, 'a');

struct Parsed {
  const char* text;
  const char* registry;
  const char* repository;
  const char* tag;
  std::string digest;
};

TEST(Reference, DockerRules) {
  const Parsed cases[] = {
      {"alpine", "docker.io", "library/alpine", "latest", ""},
      {"alpine:3.20", "docker.io", "library/alpine", "3.20", ""},
      {"docker.io/library/debian:bookworm", "docker.io", "library/debian", "bookworm", ""},
      {"index.docker.io/library/debian", "docker.io", "library/debian", "latest", ""},
      {"myorg/tool:v1", "docker.io", "myorg/tool", "v1", ""},
      {"ghcr.io/myorg/devimg:v2", "ghcr.io", "myorg/devimg", "v2", ""},
      {"quay.io/a/b/c", "quay.io", "a/b/c", "latest", ""},
      {"localhost/x", "localhost", "x", "latest", ""},
      {"localhost:5000/x:t", "localhost:5000", "x", "t", ""},
      {"127.0.0.1:5000/team/app:1.0", "127.0.0.1:5000", "team/app", "1.0", ""},
      {"[::1]:5000/app", "[::1]:5000", "app", "latest", ""},
      {"my-registry.example.com:443/a_b/c__d/e--f:T_1.x-y", "my-registry.example.com:443", "a_b/c__d/e--f", "T_1.x-y", ""},
  };
  for (const Parsed& c : cases) {
    auto ref = ParseReference(c.text);
    ASSERT_TRUE(ref) << c.text << ": " << ref.error().message;
    EXPECT_EQ(ref->registry, c.registry) << c.text;
    EXPECT_EQ(ref->repository, c.repository) << c.text;
    EXPECT_EQ(ref->tag, c.tag) << c.text;
    EXPECT_EQ(ref->digest, c.digest) << c.text;
  }
}

TEST(Reference, DigestWinsOverTag) {
  auto both = ParseReference("alpine:3.20@" + kDigest);
  ASSERT_TRUE(both);
  EXPECT_EQ(both->tag, "3.20");
  EXPECT_EQ(both->digest, kDigest);
  EXPECT_EQ(both->ManifestSelector(), kDigest);
  auto only = ParseReference("127.0.0.1:5000/app@" + kDigest);
  ASSERT_TRUE(only);
  EXPECT_EQ(only->tag, "") << "no implicit latest beside a digest";
  EXPECT_EQ(only->DefaultImageName(), "app-aaaaaaaaaaaa");
}

TEST(Reference, MalformedReferencesAreNamedErrors) {
  const char* bad[] = {"",
                       "UPPER/case",
                       "alpine:",
                       "alpine:-bad",
                       "a//b",
                       "/alpine",
                       "alpine/",
                       "alpine@sha256:abc",
                       "alpine@md5:0123",
                       "alpine@sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                       "host:99999999/x",
                       "with space",
                       "new\nline",
                       "a..b",
                       "-leading"};
  for (const char* text : bad) {
    auto ref = ParseReference(text);
    EXPECT_FALSE(ref) << "accepted '" << text << "'";
    if (!ref) {
      EXPECT_EQ(ref.error().code, ErrorCode::kInvalidArgument);
      EXPECT_EQ(ref.error().message.rfind("invalid reference", 0), 0u) << ref.error().message;
    }
  }
  auto upper = ParseReference("Alpine");
  ASSERT_FALSE(upper);
  EXPECT_NE(upper.error().message.find("must be lowercase"), std::string::npos);
  EXPECT_FALSE(ParseReference(std::string(300, 'a')));
}

TEST(Reference, TheRegistryHostIsLowercase) {
  auto upper = ParseReference("GHCR.IO/team/app:1");
  ASSERT_TRUE(upper);
  EXPECT_EQ(upper->registry, "ghcr.io");
  EXPECT_EQ(ParseReference("Index.Docker.IO/library/alpine")->registry, "docker.io");
  EXPECT_EQ(ParseReference("Registry.Example.com:5000/a/B:1").ok(), false) << "repository names stay lowercase-only";
}

TEST(Reference, CanonicalStringAndApiHost) {
  auto ref = ParseReference("debian:bookworm");
  ASSERT_TRUE(ref);
  EXPECT_EQ(ref->String(), "docker.io/library/debian:bookworm");
  EXPECT_EQ(ref->ApiHost(), "registry-1.docker.io");
  EXPECT_EQ(ref->DefaultImageName(), "debian-bookworm");
  auto local = ParseReference("127.0.0.1:5000/x:y");
  ASSERT_TRUE(local);
  EXPECT_EQ(local->ApiHost(), "127.0.0.1:5000");
}

// Default names keep the repository's namespace, so demo/busybox and other/busybox do
// not collide (#18); only Docker Hub's library/ goes. Every name is a valid image name.
TEST(Reference, DefaultNamesKeepTheNamespace) {
  for (const auto& [text, name] : std::vector<std::pair<std::string, std::string>>{
           {"debian:bookworm", "debian-bookworm"},
           {"docker.io/library/busybox:1.36", "busybox-1.36"},
           {"demo/busybox:1", "demo-busybox-1"},
           {"other/busybox:1", "other-busybox-1"},
           {"ghcr.io/org/team/app:v2", "org-team-app-v2"},
           {"quay.io/library/app:1", "library-app-1"},
           {"localhost:5000/app", "app-latest"},
       }) {
    auto ref = ParseReference(text);
    ASSERT_TRUE(ref) << text;
    EXPECT_EQ(ref->DefaultImageName(), name) << text;
  }
}

// skopeo's and crane's "docker://" is understood; skopeo's other transports and URLs are
// refused by name (#18: "docker://alpine" was "registry host 'docker:' is not valid").
TEST(Reference, TransportPrefixesAndUrls) {
  auto docker = ParseReference("docker://alpine");
  ASSERT_TRUE(docker) << docker.error().message;
  EXPECT_EQ(docker->String(), "docker.io/library/alpine:latest");
  auto tagged = ParseReference("oci:latest");
  ASSERT_TRUE(tagged) << "Docker Hub's oci at a tag: " << tagged.error().message;
  EXPECT_EQ(tagged->String(), "docker.io/library/oci:latest");
  auto with_port = ParseReference("oci:5000/app:1");
  ASSERT_TRUE(with_port) << "a registry called oci with a port: " << with_port.error().message;
  EXPECT_EQ(with_port->registry, "oci:5000");
  for (const auto& [text, says] : std::vector<std::pair<std::string, std::string>>{
           {"oci:/tmp/layout", "'oci:' is a skopeo transport; banger pulls from registries only"},
           {"docker-archive:/tmp/x.tar", "'docker-archive:' is a skopeo transport"},
           {"https://ghcr.io/org/app:1", "a reference has no scheme"},
       }) {
    auto refused = ParseReference(text);
    ASSERT_FALSE(refused) << text;
    EXPECT_NE(refused.error().message.find(says), std::string::npos) << refused.error().message;
  }
}

TEST(Reference, LoopbackHosts) {
  for (const char* host : {"localhost", "localhost:5000", "127.0.0.1", "127.1.2.3:80", "[::1]:5000", "[::1]"}) {
    EXPECT_TRUE(IsLoopbackHost(host)) << host;
  }
  for (const char* host : {"docker.io", "128.0.0.1", "127.0.0.1.evil.com", "localhost.evil.com", "[::2]:5000",
                           "10.0.0.1:5000", "127.0.0"}) {
    EXPECT_FALSE(IsLoopbackHost(host)) << host;
  }
}

TEST(Digest, SyntaxIsCheckedStrictly) {
  EXPECT_TRUE(IsValidDigest(kDigest));
  EXPECT_FALSE(IsValidDigest("sha256:" + std::string(63, 'a')));
  EXPECT_FALSE(IsValidDigest("sha256:" + std::string(65, 'a')));
  EXPECT_FALSE(IsValidDigest("sha512:" + std::string(64, 'a')));
  EXPECT_FALSE(IsValidDigest("sha256:" + std::string(63, 'a') + "G"));
  EXPECT_FALSE(IsValidDigest("sha256:../../../../etc/passwd" + std::string(36, 'a')));
  auto err = CheckDigest("sha256:x\n", "layer 2");
  ASSERT_FALSE(err);
  EXPECT_EQ(err.error().message.find('\n'), std::string::npos) << "control bytes are not echoed";
  EXPECT_NE(err.error().message.find("layer 2"), std::string::npos);
}

}  // namespace
}  // namespace banger
