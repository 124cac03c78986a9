// How the fetcher copes with a hostile or flaky network path, through tests/fixtures/
// proxy.py in front of the real registry: dropped connections resume with Range, 429 is
// retried after Retry-After, redirects to another host get no credentials, and hostile
// manifests are named errors that never crash the broker.
#include <fstream>

#include <gtest/gtest.h>

#include "broker/credentials.h"
#include "broker/image_fetch.h"
#include "tests/support/registry_fixture.h"

namespace banger::broker {
namespace {

using nlohmann::json;
using testing::ScratchDir;
using testing::TestProxy;
using testing::TestRegistry;

class RegistryTransport : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cache = BlobCache::Open(cache_dir_.path());
    ASSERT_TRUE(cache) << cache.error().message;
    cache_ = std::make_unique<BlobCache>(std::move(*cache));
  }
  Result<FetchedImage> Fetch(const std::string& ref, RegistryCredentials creds = {}) {
    FetchOptions options;
    options.reference = ref;
    options.credentials = [creds](const std::string&) -> Result<RegistryCredentials> { return creds; };
    return FetchImage(*cache_, options);
  }
  ScratchDir cache_dir_{"banger-cache"};
  std::unique_ptr<BlobCache> cache_;
};

TEST_F(RegistryTransport, DroppedConnectionResumesWithRange) {
  auto registry = TestRegistry::Start();
  ASSERT_TRUE(registry);
  ASSERT_FALSE(registry->Push("app", "v1", {"--layers", "1", "--layer-bytes", "300000"}).is_null());
  auto proxy = TestProxy::Start(registry->host(), {"--cut-blob-after", "20000"});
  ASSERT_TRUE(proxy);
  auto image = Fetch(proxy->host() + "/app:v1");
  ASSERT_TRUE(image) << image.error().message;
  bool cut = false, resumed = false;
  for (const json& e : proxy->Log()) {
    cut |= e["status"] == "cut";
    resumed |= e["range"] == "bytes=20000-" && e["status"] == 206;
  }
  EXPECT_TRUE(cut) << "the proxy dropped a blob transfer";
  EXPECT_TRUE(resumed) << "the fetcher asked for the rest with Range and got 206";
  EXPECT_TRUE(cache_->Contains(image->layers[0].digest, image->layers[0].size));
}

TEST_F(RegistryTransport, TooManyRequestsIsRetriedAfterRetryAfter) {
  auto registry = TestRegistry::Start();
  ASSERT_TRUE(registry);
  ASSERT_FALSE(registry->Push("app", "v1").is_null());
  auto proxy = TestProxy::Start(registry->host(), {"--throttle-429", "2"});
  ASSERT_TRUE(proxy);
  auto image = Fetch(proxy->host() + "/app:v1");
  ASSERT_TRUE(image) << image.error().message;
  int throttled = 0;
  for (const json& e : proxy->Log()) throttled += e["status"] == 429;
  EXPECT_EQ(throttled, 2);
}

TEST_F(RegistryTransport, RedirectToAnotherPortGetsNoAuthorization) {
  auto registry = TestRegistry::Start({.htpasswd = "alice:s3cret"});
  ASSERT_TRUE(registry);
  ASSERT_FALSE(registry->Push("private/app", "v1", {}, "alice:s3cret").is_null());
  auto proxy = TestProxy::Start(registry->host(), {"--redirect-blobs", "--upstream-user", "alice:s3cret"});
  ASSERT_TRUE(proxy);
  auto image = Fetch(proxy->host() + "/private/app:v1", {"alice", "s3cret", ""});
  ASSERT_TRUE(image) << image.error().message;
  int redirected = 0, authorized_at_registry = 0;
  for (const json& e : proxy->Log()) {
    if (e["listener"] == "redirect") {
      ++redirected;
      EXPECT_FALSE(e["authorization"].get<bool>()) << "credentials leaked to " << e["path"];
    } else if (e["authorization"].get<bool>()) {
      ++authorized_at_registry;
    }
  }
  EXPECT_EQ(redirected, 3) << "two layers and the config came through the redirect";
  EXPECT_GT(authorized_at_registry, 0) << "the registry itself did get credentials";
}

// Hostile documents, served in place of the manifest.
class HostileManifest : public RegistryTransport {
 protected:
  Result<FetchedImage> FetchServing(const std::string& body, const std::string& content_type) {
    registry_ = TestRegistry::Start();
    if (!registry_) return Error{ErrorCode::kIo, "no registry"};
    const std::string file = scratch_.path() + "/manifest";
    std::ofstream(file, std::ios::binary) << body;
    proxy_ = TestProxy::Start(registry_->host(), {"--manifest-file", file, "--content-type", content_type});
    if (!proxy_) return Error{ErrorCode::kIo, "no proxy"};
    return Fetch(proxy_->host() + "/app:v1");
  }
  ScratchDir scratch_{"banger-hostile"};
  std::unique_ptr<TestRegistry> registry_;
  std::unique_ptr<TestProxy> proxy_;
};

const char* kOciManifest = "application/vnd.oci.image.manifest.v1+json";

TEST_F(HostileManifest, MalformedJson) {
  auto r = FetchServing("{\"schemaVersion\": 2, \"layers\": [", kOciManifest);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("invalid JSON"), std::string::npos) << r.error().message;
}

TEST_F(HostileManifest, Oversized) {
  auto r = FetchServing(std::string(5 << 20, ' '), kOciManifest);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("larger than"), std::string::npos) << r.error().message;
}

TEST_F(HostileManifest, NestingBomb) {
  auto r = FetchServing(std::string(100000, '[') + std::string(100000, ']'), kOciManifest);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("nested deeper"), std::string::npos) << r.error().message;
}

TEST_F(HostileManifest, WrongMediaTypes) {
  const std::string manifest =
      R"({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
          "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2,
                     "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
          "layers": []})";
  auto disagree = FetchServing(manifest, "application/vnd.docker.distribution.manifest.list.v2+json");
  ASSERT_FALSE(disagree);
  EXPECT_NE(disagree.error().message.find("disagrees"), std::string::npos) << disagree.error().message;
}

TEST_F(HostileManifest, UnknownMediaType) {
  auto r = FetchServing(R"({"schemaVersion": 2, "mediaType": "application/x-evil", "layers": []})", "application/x-evil");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("unsupported media type"), std::string::npos) << r.error().message;
}

TEST_F(HostileManifest, SchemaOne) {
  auto r = FetchServing(R"({"schemaVersion": 1, "name": "app", "tag": "v1", "fsLayers": []})",
                        "application/vnd.docker.distribution.manifest.v1+prettyjws");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("schema 1"), std::string::npos) << r.error().message;
}

TEST_F(HostileManifest, AmbiguousIndexAndManifest) {
  auto r = FetchServing(R"({"schemaVersion": 2, "manifests": [], "layers": [], "config": {}})", kOciManifest);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("CVE-2021-41190"), std::string::npos) << r.error().message;
}

TEST_F(HostileManifest, DigestThatDoesNotMatchTheBytes) {
  registry_ = TestRegistry::Start();
  ASSERT_TRUE(registry_);
  auto pushed = registry_->Push("app", "v1");
  ASSERT_FALSE(pushed.is_null());
  const std::string file = scratch_.path() + "/manifest";
  std::ofstream(file) << R"({"schemaVersion": 2, "layers": []})";
  proxy_ = TestProxy::Start(registry_->host(), {"--manifest-file", file});
  ASSERT_TRUE(proxy_);
  const std::string digest = pushed["images"]["linux/amd64"]["manifest_digest"];
  auto r = Fetch(proxy_->host() + "/app@" + digest);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not the one asked for"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace banger::broker
