// Fetching through the sandboxed fetcher from the real distribution registry: every
// manifest format, platform selection, the verified cache, offline digest pulls.
#include "broker/pull/fetch.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <thread>

#include <gtest/gtest.h>

#include "base/digest.h"
#include "base/sha256.h"
#include "broker/store/blob_cache.h"
#include "tests/broker/pull/fetch_fixture.h"

namespace banger::broker {
namespace {

using testing::ScratchDir;
using testing::TestRegistry;

// Every file in the cache is named by the sha256 of its bytes (invariant I2).
std::string CacheIsConsistent(const BlobCache& cache, size_t* count = nullptr) {
  DIR* dir = ::opendir(cache.layout().blobs_dir().c_str());
  if (dir == nullptr) return "no cache dir";
  std::string problems;
  size_t n = 0;
  while (dirent* e = ::readdir(dir)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    ++n;
    UniqueFd fd(::open((cache.layout().blobs_dir() + "/" + name).c_str(), O_RDONLY | O_CLOEXEC));
    auto digest = Sha256OfFd(fd.get());
    if (!digest || *digest != "sha256:" + name) problems += name + " ";
  }
  ::closedir(dir);
  if (count) *count = n;
  return problems;
}

class ImageFetch : public FetchTest {
 protected:
  void SetUp() override {
    FetchTest::SetUp();
    registry_ = TestRegistry::Start();
    ASSERT_TRUE(registry_);
  }
  Result<FetchedImage> FetchFor(const std::string& ref, const std::string& platform) {
    FetchOptions options = OptionsFor(ref);
    options.platform = platform;
    return FetchImage(*cache_, options);
  }
  std::unique_ptr<TestRegistry> registry_;
};

TEST_F(ImageFetch, OciManifestImage) {
  auto pushed = registry_->Push("test/app", "v1", {"--format", "oci", "--layers", "3"});
  ASSERT_FALSE(pushed.is_null());
  const auto& expected = pushed["images"]["linux/amd64"];
  auto image = Fetch(registry_->host() + "/test/app:v1");
  ASSERT_TRUE(image) << image.error().message;
  EXPECT_EQ(image->manifest_digest, expected["manifest_digest"]);
  EXPECT_EQ(image->manifest_media_type, "application/vnd.oci.image.manifest.v1+json");
  EXPECT_EQ(image->config.digest, expected["config"]);
  ASSERT_EQ(image->layers.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(image->layers[i].digest, expected["layers"][i]["digest"]) << "layers keep their order";
    EXPECT_TRUE(cache_->Contains(image->layers[i].digest, image->layers[i].size));
  }
  size_t cached = 0;
  EXPECT_EQ(CacheIsConsistent(*cache_, &cached), "");
  EXPECT_EQ(cached, 5u) << "3 layers, the config and the manifest";
}

TEST_F(ImageFetch, DockerSchema2Image) {
  auto pushed = registry_->Push("test/docker", "v2", {"--format", "docker"});
  ASSERT_FALSE(pushed.is_null());
  auto image = Fetch(registry_->host() + "/test/docker:v2");
  ASSERT_TRUE(image) << image.error().message;
  EXPECT_EQ(image->manifest_media_type, "application/vnd.docker.distribution.manifest.v2+json");
  EXPECT_EQ(image->manifest_digest, pushed["images"]["linux/amd64"]["manifest_digest"]);
  EXPECT_EQ(CacheIsConsistent(*cache_), "");
}

TEST_F(ImageFetch, OciIndexPicksThePlatform) {
  auto pushed = registry_->Push("test/multi", "v1", {"--platforms", "linux/amd64,linux/arm64/v8", "--index", "oci",
                                                      "--attestation"});
  ASSERT_FALSE(pushed.is_null());
  auto amd64 = Fetch(registry_->host() + "/test/multi:v1");
  ASSERT_TRUE(amd64) << amd64.error().message;
  EXPECT_EQ(amd64->manifest_digest, pushed["images"]["linux/amd64"]["manifest_digest"]);
  EXPECT_EQ(amd64->platform, "linux/amd64");
  auto arm64 = FetchFor(registry_->host() + "/test/multi:v1", "linux/arm64");
  ASSERT_TRUE(arm64) << arm64.error().message;
  EXPECT_EQ(arm64->manifest_digest, pushed["images"]["linux/arm64/v8"]["manifest_digest"]);
}

TEST_F(ImageFetch, DockerManifestListPicksThePlatform) {
  auto pushed = registry_->Push("test/list", "v1", {"--platforms", "linux/arm64/v8,linux/amd64", "--index", "docker",
                                                     "--format", "docker"});
  ASSERT_FALSE(pushed.is_null());
  auto image = Fetch(registry_->host() + "/test/list:v1");
  ASSERT_TRUE(image) << image.error().message;
  EXPECT_EQ(image->manifest_digest, pushed["images"]["linux/amd64"]["manifest_digest"]);
}

TEST_F(ImageFetch, AbsentPlatformListsWhatIsOffered) {
  ASSERT_FALSE(registry_->Push("test/multi", "v1", {"--platforms", "linux/amd64,linux/arm64/v8", "--index", "oci"}).is_null());
  auto image = FetchFor(registry_->host() + "/test/multi:v1", "linux/s390x");
  ASSERT_FALSE(image);
  EXPECT_NE(image.error().message.find("has no linux/s390x image; offered: linux/amd64, linux/arm64/v8"),
            std::string::npos)
      << image.error().message;
}

TEST_F(ImageFetch, TamperedBlobFailsAndNeverEntersTheCache) {
  auto pushed = registry_->Push("test/app", "v1");
  ASSERT_FALSE(pushed.is_null());
  const std::string bad = pushed["images"]["linux/amd64"]["layers"][1]["digest"];
  registry_->Tamper(bad);
  auto image = Fetch(registry_->host() + "/test/app:v1");
  ASSERT_FALSE(image);
  EXPECT_NE(image.error().message.find("digest mismatch"), std::string::npos) << image.error().message;
  EXPECT_NE(image.error().message.find(bad), std::string::npos) << "the error names the layer";
  EXPECT_FALSE(cache_->Contains(bad, pushed["images"]["linux/amd64"]["layers"][1]["size"]));
  EXPECT_NE(::access(cache_->layout().BlobPath(bad).c_str(), F_OK), 0);
  EXPECT_EQ(CacheIsConsistent(*cache_), "");
}

TEST_F(ImageFetch, CacheHitSkipsEveryBlobDownload) {
  ASSERT_FALSE(registry_->Push("test/app", "v1").is_null());
  auto first = Fetch(registry_->host() + "/test/app:v1");
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_GT(first->downloaded_bytes, 0u);
  const int blob_gets = registry_->CountInLog("GET /v2/test/app/blobs/");
  EXPECT_EQ(blob_gets, 3) << "2 layers and the config";
  auto second = Fetch(registry_->host() + "/test/app:v1");
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->downloaded_bytes, 0u);
  for (const auto& l : second->layers) EXPECT_TRUE(l.from_cache);
  EXPECT_EQ(registry_->CountInLog("GET /v2/test/app/blobs/"), blob_gets) << "no blob GET on a cache hit";
}

TEST_F(ImageFetch, CachedDigestReferenceWorksWithTheNetworkDown) {
  auto pushed = registry_->Push("test/app", "v1");
  ASSERT_FALSE(pushed.is_null());
  const std::string ref = registry_->host() + "/test/app@" + pushed["images"]["linux/amd64"]["manifest_digest"].get<std::string>();
  auto online = Fetch(ref);
  ASSERT_TRUE(online) << online.error().message;
  EXPECT_TRUE(online->used_network);
  registry_->Stop();
  auto offline = Fetch(ref);
  ASSERT_TRUE(offline) << offline.error().message;
  EXPECT_FALSE(offline->used_network);
  EXPECT_EQ(offline->manifest_digest, online->manifest_digest);
  auto tag = Fetch(registry_->host() + "/test/app:v1");
  EXPECT_FALSE(tag) << "a tag needs the registry: tags move";
}

// A digest that names an index is remembered under that digest, whatever the platform
// manifest it resolved to (the plan record's own digest is the manifest's).
TEST_F(ImageFetch, ACachedIndexDigestWorksWithTheNetworkDown) {
  auto pushed = registry_->Push("test/multi", "v1", {"--platforms", "linux/amd64,linux/arm64/v8", "--index", "oci"});
  ASSERT_FALSE(pushed.is_null());
  const std::string ref = registry_->host() + "/test/multi@" + pushed["index_digest"].get<std::string>();
  auto online = Fetch(ref);
  ASSERT_TRUE(online) << online.error().message;
  EXPECT_EQ(online->manifest_digest, pushed["images"]["linux/amd64"]["manifest_digest"]);
  registry_->Stop();
  auto offline = Fetch(ref);
  ASSERT_TRUE(offline) << offline.error().message;
  EXPECT_FALSE(offline->used_network);
  EXPECT_EQ(offline->manifest_digest, online->manifest_digest);
}

// What one registry said an index digest resolves to is never served for another registry
// or repository: those must ask their own (here: down, so the fetch fails).
TEST_F(ImageFetch, APlanRecordServesOnlyTheRegistryAndRepositoryItCameFrom) {
  auto pushed = registry_->Push("test/multi", "v1", {"--platforms", "linux/amd64,linux/arm64/v8", "--index", "oci"});
  ASSERT_FALSE(pushed.is_null());
  const std::string digest = pushed["index_digest"].get<std::string>();
  ASSERT_TRUE(Fetch(registry_->host() + "/test/multi@" + digest));
  const std::string host = registry_->host();
  registry_->Stop();
  for (const std::string& other : {"127.0.0.2:" + host.substr(host.rfind(':') + 1) + "/test/multi@" + digest,
                                   host + "/test/other@" + digest}) {
    SCOPED_TRACE(other);
    auto offline = Fetch(other);
    EXPECT_FALSE(offline) << "served from another registry's or repository's record";
  }
  EXPECT_TRUE(Fetch(host + "/test/multi@" + digest)) << "its own record still serves it";
}

TEST_F(ImageFetch, UnknownTagAndRepositoryAreNamed) {
  auto image = Fetch(registry_->host() + "/test/none:v9");
  ASSERT_FALSE(image);
  EXPECT_NE(image.error().message.find("not found"), std::string::npos) << image.error().message;
  EXPECT_NE(image.error().message.find("test/none:v9"), std::string::npos) << image.error().message;
}

TEST_F(ImageFetch, MalformedReferenceIsNamedBeforeAnythingRuns) {
  auto image = Fetch("Bad Ref");
  ASSERT_FALSE(image);
  EXPECT_EQ(image.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(image.error().message.find("invalid reference"), std::string::npos);
}


TEST_F(ImageFetch, ConcurrentPullsOfOneImageShareTheCacheSafely) {
  ASSERT_FALSE(registry_->Push("test/app", "v1", {"--layers", "4", "--layer-bytes", "100000"}).is_null());
  std::vector<std::thread> pulls;
  std::vector<std::string> failures(4);
  for (int i = 0; i < 4; ++i) {
    pulls.emplace_back([&, i] {
      auto image = Fetch(registry_->host() + "/test/app:v1");
      if (!image) failures[i] = image.error().message;
    });
  }
  for (auto& t : pulls) t.join();
  for (const auto& f : failures) EXPECT_EQ(f, "");
  size_t cached = 0;
  EXPECT_EQ(CacheIsConsistent(*cache_, &cached), "");
  EXPECT_EQ(cached, 6u) << "4 layers, config and manifest, each once";
}


TEST_F(ImageFetch, NonRootBrokerFetchesThroughAUserNamespaceSandbox) {
  BANGER_REQUIRE_ROOT();  // root is needed only to become nobody
  ASSERT_FALSE(registry_->Push("test/app", "v1").is_null());
  ScratchDir bin("banger-bin");
  const std::string fetcher = testing::CopyExecutable(std::string(BANGER_BIN_DIR) + "/banger-fetcher", bin.path());
  ScratchDir cache_root("banger-nobody-cache");
  ASSERT_EQ(::chown(cache_root.path().c_str(), 65534, 65534), 0);
  const std::string ref = registry_->host() + "/test/app:v1";
  std::string failure = testing::RunAsNobody([&] {
    auto cache = BlobCache::Open(cache_root.path() + "/cache");
    if (!cache) return cache.error().message;
    FetchOptions options = OptionsFor(ref);
    options.helpers.banger_dir = bin.path();
    auto image = FetchImage(*cache, options);
    if (!image) return image.error().message;
    return CacheIsConsistent(*cache);
  });
  EXPECT_EQ(failure, "");
}

}  // namespace
}  // namespace banger::broker
