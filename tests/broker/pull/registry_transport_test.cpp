// How the fetcher copes with a hostile or flaky network path, through tests/fixtures/
// proxy.py in front of the real registry: dropped connections resume with Range, 429 is
// retried after Retry-After, redirects to another host get no credentials, and hostile
// manifests are named errors that never crash the broker.
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <fstream>

#include <gtest/gtest.h>

#include "broker/registry/credentials.h"
#include "broker/pull/fetch.h"
#include "tests/broker/pull/fetch_fixture.h"

namespace banger::broker {
namespace {

using nlohmann::json;
using testing::ScratchDir;
using testing::TestProxy;
using testing::TestRegistry;

using RegistryTransport = FetchTest;

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
  const json log = proxy->Log();
  int throttled = 0, honoured = 0;
  for (size_t i = 0; i < log.size(); ++i) {
    if (log[i]["status"] != 429) continue;
    ++throttled;
    // The next request for that blob came no earlier than Retry-After: 1 said.
    for (size_t j = i + 1; j < log.size(); ++j) {
      if (log[j]["path"] != log[i]["path"]) continue;
      EXPECT_GE(log[j]["time"].get<double>() - log[i]["time"].get<double>(), 1.0) << log[i]["path"];
      ++honoured;
      break;
    }
  }
  EXPECT_EQ(throttled, 2);
  EXPECT_EQ(honoured, 2) << "each throttled blob was asked for again";
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


// TLS inside the fetcher's sandbox: the system CA bundle plus a private CA from certs.d.
TEST_F(RegistryTransport, HttpsRegistryWithAPrivateCaFromCertsD) {
  auto registry = TestRegistry::Start({.tls = true});
  ASSERT_TRUE(registry);
  ASSERT_FALSE(registry->Push("secure/app", "v1").is_null());
  ScratchDir certs("banger-certs.d");
  const std::string dir = certs.path() + "/" + registry->host();
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
  ASSERT_EQ(testing::RunCommand("cp " + registry->root() + "/ca.crt " + dir + "/ca.crt").exit_status, 0);

  FetchOptions options = OptionsFor(registry->host() + "/secure/app:v1");
  options.certs_dirs = {certs.path()};
  auto image = FetchImage(*cache_, options);
  ASSERT_TRUE(image) << image.error().message;
  EXPECT_EQ(image->layers.size(), 2u);
  EXPECT_GE(registry->CountInLog("GET /v2/secure/app/blobs/"), 3) << "served over HTTPS by the registry";

  // Without the CA the certificate is refused by name; there is no silent fall back to HTTP.
  ScratchDir other("banger-cache-untrusted");
  auto untrusted_cache = NewCache(other);
  options.certs_dirs = {};
  auto refused = FetchImage(*untrusted_cache, options);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("the TLS certificate of " + registry->host() + " is not trusted: "),
            std::string::npos)
      << refused.error().message;
  EXPECT_NE(refused.error().message.find("put the CA that signed it in /etc/docker/certs.d/" + registry->host() + "/ca.crt"),
            std::string::npos)
      << "the hint names where the CA goes (#18): " << refused.error().message;
}


// The command line gives the fetcher the proxy variables of banger's environment
// (cli/context.cpp, tested in config_test.cpp); libcurl inside the sandbox obeys them.
TEST_F(RegistryTransport, ProxySettingsReachTheFetcher) {
  auto registry = TestRegistry::Start();
  ASSERT_TRUE(registry);
  ASSERT_FALSE(registry->Push("app", "v1").is_null());
  auto proxy = TestProxy::Start(registry->host(), {});
  ASSERT_TRUE(proxy);
  FetchOptions options = OptionsFor(registry->host() + "/app:v1");
  options.helpers.fetcher_environment = {"http_proxy=http://" + proxy->host()};
  auto image = FetchImage(*cache_, options);
  ASSERT_TRUE(image) << image.error().message;
  int through_proxy = 0;
  for (const json& e : proxy->Log()) through_proxy += e["path"].get<std::string>().find("/v2/app/") != std::string::npos;
  EXPECT_GE(through_proxy, 4) << "manifest, config and two layers went through http_proxy";

  options.helpers.fetcher_environment.push_back("no_proxy=127.0.0.1");
  ScratchDir other("banger-cache-noproxy");
  auto other_cache = NewCache(other);
  const size_t before = proxy->Log().size();
  auto direct = FetchImage(*other_cache, options);
  ASSERT_TRUE(direct) << direct.error().message;
  EXPECT_EQ(proxy->Log().size(), before) << "no_proxy bypasses the proxy";

  // A proxy that is not there is named as what failed, not the registry behind it (#18).
  ScratchDir third("banger-cache-deadproxy");
  auto third_cache = NewCache(third);
  options.helpers.fetcher_environment = {"http_proxy=http://proxyuser:s3cret@127.0.0.1:9"};
  auto dead = FetchImage(*third_cache, options);
  ASSERT_FALSE(dead);
  EXPECT_NE(dead.error().message.find("the proxy http://127.0.0.1:9 failed: "), std::string::npos) << dead.error().message;
  EXPECT_EQ(dead.error().message.find("s3cret"), std::string::npos) << "the proxy's password is in the error";
  EXPECT_NE(dead.error().message.find("(asked for http://" + registry->host() + "/v2/"), std::string::npos)
      << dead.error().message;
}


// Name resolution for the fetcher, which has no network of its own: the broker's gate
// resolves with the host's resolver (here a resolv.conf that names a loopback DNS server,
// shown at /etc/resolv.conf in a mount namespace of the test's child) and hands the
// fetcher a connected socket. The name is resolved once per fetcher: the DNS server
// answers 127.0.0.1 once and 127.0.0.2 (where nothing listens) after that, as a
// rebinding attacker would, and the pull still works. Before, the fetcher resolved the
// name for each of its HTTP clients.
TEST_F(RegistryTransport, RegistryNameResolvesThroughTheHostsDnsOncePerFetcher) {
  BANGER_REQUIRE_ROOT();  // the DNS fixture listens on port 53; the bind mount
  auto registry = TestRegistry::Start();
  ASSERT_TRUE(registry);
  ASSERT_FALSE(registry->Push("app", "v1").is_null());
  ScratchDir dns_dir("banger-dns");
  testing::FixtureProcess dns;
  ASSERT_TRUE(dns.Start({"/usr/bin/python3", testing::FixturesDir() + "/dns.py", "--address", "127.0.0.77", "--log",
                         dns_dir.path() + "/queries", "--rebind"}));
  const std::string resolv = dns_dir.path() + "/resolv.conf";
  std::ofstream(resolv) << "nameserver 127.0.0.77\noptions timeout:2 attempts:2\n";
  const std::string name = "registry.banger.test:" + registry->host().substr(registry->host().rfind(':') + 1);

  // Fetches `insecure` or not in a child whose /etc/resolv.conf is `resolv_conf`: 0 when it worked.
  auto fetch_in_child = [&](bool insecure, const testing::ScratchDir& cache_dir, const std::string& resolv_conf) {
    const pid_t child = ::fork();
    if (child == 0) {
      if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
          ::mount(resolv_conf.c_str(), "/etc/resolv.conf", nullptr, MS_BIND, nullptr) != 0) {
        ::_exit(2);
      }
      auto cache = NewCache(cache_dir);
      FetchOptions options = OptionsFor(name + "/app:v1");
      if (insecure) options.insecure_registries = {name};
      auto image = FetchImage(*cache, options);
      if (!image) std::ofstream(dns_dir.path() + "/error") << image.error().message;
      ::_exit(image ? 0 : 1);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  };
  ScratchDir first("banger-cache-dns");
  ASSERT_EQ(fetch_in_child(true, first, resolv), 0);
  std::ifstream queries(dns_dir.path() + "/queries");
  std::string query;
  int asked = 0;
  while (std::getline(queries, query)) asked += query == "registry.banger.test";
  EXPECT_GE(asked, 1) << "the name was resolved through DNS";
  EXPECT_LE(asked, 2) << "one lookup (an A and an AAAA query) per fetcher";

  // Without --insecure-registry a non-loopback name must use HTTPS, which this registry lacks.
  // (A server of its own: the first one's answers have moved on.)
  testing::FixtureProcess honest_dns;
  ASSERT_TRUE(honest_dns.Start({"/usr/bin/python3", testing::FixturesDir() + "/dns.py", "--address", "127.0.0.78",
                                "--log", dns_dir.path() + "/honest-queries"}));
  const std::string honest_resolv = dns_dir.path() + "/honest-resolv.conf";
  std::ofstream(honest_resolv) << "nameserver 127.0.0.78\noptions timeout:2 attempts:2\n";
  ScratchDir other("banger-cache-secure");
  EXPECT_EQ(fetch_in_child(false, other, honest_resolv), 1) << "plain HTTP was used for a registry nobody marked insecure";
  // Said as skopeo says it, with what to do (#18): before, it was libcurl's "SSL connect error".
  const std::string error = testing::ReadFile(dns_dir.path() + "/error");
  EXPECT_NE(error.find("server gave HTTP response to HTTPS client (https://" + name + "/v2/"), std::string::npos) << error;
  EXPECT_NE(error.find("--insecure-registry " + name), std::string::npos) << error;
}


// A registry that trickles (or a fetcher that does) cannot hold a pull forever: past its
// grace time a blob must arrive at the slowest allowed rate on average, or the pull
// stops naming it. Before, any byte within 15 minutes kept the download alive.
TEST_F(RegistryTransport, ABlobThatTricklesIsStopped) {
  auto registry = TestRegistry::Start();
  ASSERT_TRUE(registry);
  ASSERT_FALSE(registry->Push("app", "v1").is_null());
  auto proxy = TestProxy::Start(registry->host(), {"--slow-blobs", "2000"});
  ASSERT_TRUE(proxy);
  FetchOptions options = OptionsFor(proxy->host() + "/app:v1");
  options.min_download_rate = 1 << 20;
  options.download_grace_seconds = 0;
  auto image = FetchImage(*cache_, options);
  ASSERT_FALSE(image) << "a blob at 2000 bytes/s passed a 1 MiB/s bound";
  EXPECT_NE(image.error().message.find("the registry is too slow or stalling"), std::string::npos)
      << image.error().message;
}

TEST_F(RegistryTransport, ServerErrorsAreRetried) {
  auto registry = TestRegistry::Start();
  ASSERT_TRUE(registry);
  ASSERT_FALSE(registry->Push("app", "v1").is_null());
  auto proxy = TestProxy::Start(registry->host(), {"--fail-503", "3"});
  ASSERT_TRUE(proxy);
  auto image = Fetch(proxy->host() + "/app:v1");
  ASSERT_TRUE(image) << image.error().message;
  int failed = 0;
  for (const json& e : proxy->Log()) failed += e["status"] == 503;
  EXPECT_EQ(failed, 3);
}

TEST_F(RegistryTransport, ServerIgnoringRangeRestartsTheBlob) {
  auto registry = TestRegistry::Start();
  ASSERT_TRUE(registry);
  ASSERT_FALSE(registry->Push("app", "v1", {"--layers", "1", "--layer-bytes", "300000"}).is_null());
  auto proxy = TestProxy::Start(registry->host(), {"--cut-blob-after", "20000", "--ignore-range"});
  ASSERT_TRUE(proxy);
  auto image = Fetch(proxy->host() + "/app:v1");
  ASSERT_TRUE(image) << image.error().message;
  bool asked_range = false;
  for (const json& e : proxy->Log()) asked_range |= e["range"] == "bytes=20000-" && e["status"] == 200;
  EXPECT_TRUE(asked_range) << "the retry asked for a range, got the whole blob, and started over";
  EXPECT_TRUE(cache_->Contains(image->layers[0].digest, image->layers[0].size));
}

TEST_F(RegistryTransport, BlobLargerThanItsDescriptorIsRefused) {
  auto registry = TestRegistry::Start();
  ASSERT_TRUE(registry);
  auto pushed = registry->Push("app", "v1");
  ASSERT_FALSE(pushed.is_null());
  auto proxy = TestProxy::Start(registry->host(), {"--pad-blobs"});
  ASSERT_TRUE(proxy);
  auto image = Fetch(proxy->host() + "/app:v1");
  ASSERT_FALSE(image);
  EXPECT_NE(image.error().message.find("more than the"), std::string::npos) << image.error().message;
  for (const auto& layer : pushed["images"]["linux/amd64"]["layers"]) {
    EXPECT_FALSE(cache_->Contains(layer["digest"], layer["size"]));
  }
}

}  // namespace
}  // namespace banger::broker
