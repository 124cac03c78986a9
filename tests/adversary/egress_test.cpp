// A registry (or its token realm) cannot make the fetcher a way into the host or its
// network: a redirect or a token realm that leads to a loopback, link-local or private
// address is refused unless the registry itself is at one of the same kind or the
// config's egress_allow lists it (docs/fetcher.md, "Where a registry may send the
// fetcher"). The registry here is the real one, on a private address inside a network
// namespace the test makes, joined to the host by a veth pair; a misbehaving front in
// the same namespace sends the redirects. Before the rule, the fetcher followed a
// redirect to any plain-HTTP loopback service of the host. A registry on loopback that
// redirects to loopback (the same kind) is followed:
// RegistryTransport.RedirectToAnotherPortGetsNoAuthorization.
#include <unistd.h>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "tests/adversary/stand_in.h"
#include "tests/support/registry_fixture.h"

namespace banger::testing {
namespace {

// A network namespace with a veth pair: the host's end 10.231.N.1/24, the namespace's
// 10.231.N.2/24. Removed with everything in it when this object goes.
class TestNetns {
 public:
  TestNetns() {
    for (int attempt = 0; attempt < 20 && name_.empty(); ++attempt) {
      const int n = static_cast<int>((::getpid() + attempt) % 200) + 20;
      const std::string name = "banger-egress-" + std::to_string(n), host = "bgr-h" + std::to_string(n),
                        peer = "bgr-n" + std::to_string(n), net = "10.231." + std::to_string(n) + ".";
      if (RunCommand("ip netns add " + name + " 2>&1").exit_status != 0) continue;
      CommandResult up = RunCommand(
          "set -e; ip link add " + host + " type veth peer name " + peer + "; ip link set " + peer + " netns " + name +
          "; ip addr add " + net + "1/24 dev " + host + "; ip link set " + host + " up; ip netns exec " + name +
          " sh -c 'ip addr add " + net + "2/24 dev " + peer + " && ip link set " + peer + " up && ip link set lo up' 2>&1");
      if (up.exit_status != 0) {
        ADD_FAILURE() << "cannot set up network namespace " << name << ": " << up.output;
        RunCommand("ip netns del " + name + "; ip link del " + host + " 2>/dev/null");
        return;
      }
      name_ = name, host_link_ = host, inside_ = net + "2";
    }
  }
  ~TestNetns() {
    if (!name_.empty()) RunCommand("ip netns del " + name_ + "; ip link del " + host_link_ + " 2>/dev/null");
  }
  bool ok() const { return !name_.empty(); }
  const std::string& name() const { return name_; }
  const std::string& inside() const { return inside_; }  // the namespace's address

 private:
  std::string name_, host_link_, inside_;
};

class Egress : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(netns_.ok());
    registry_ = TestRegistry::Start({.netns = netns_.name(), .address = netns_.inside()});
    ASSERT_TRUE(registry_);
    ASSERT_FALSE(registry_->Push("demo/app", "v1", {"--layers", "2"}).is_null());
    // A plain-HTTP service on the host's loopback, as a metadata proxy or an admin API
    // would be: it forwards to the registry, so a redirect that reaches it works.
    victim_ = TestProxy::Start(registry_->host(), {});
    ASSERT_TRUE(victim_);
  }
  // Pulls demo/app:v1 through a front in the namespace that redirects blob GETs to `to`.
  CommandResult PullRedirectedTo(const std::string& to, const std::string& env = "") {
    front_ = TestProxy::Start(registry_->host(), {"--redirect-blobs-to", to}, netns_.name(), netns_.inside());
    if (!front_) return {1, "no front"};
    return RunCommand("env " + env + " BANGER_STATE_DIR=" + state_.path() + " BANGER_CACHE_DIR=" + cache_.path() +
                      " DOCKER_CONFIG=" + cache_.path() + " " + BANGER_BIN_DIR + "/banger image pull -q --insecure-registry " +
                      front_->host() + " " + front_->host() + "/demo/app:v1 2>&1");
  }
  bool Published() { return RunCommand("ls -A " + state_.path() + "/images").output != ""; }

  TestNetns netns_;
  std::unique_ptr<TestRegistry> registry_;
  std::unique_ptr<TestProxy> victim_, front_;
  ScratchDir state_{"banger-state"}, cache_{"banger-cache"};
};

TEST_F(Egress, ARedirectToTheHostsLoopbackIsRefused) {
  CommandResult pull = PullRedirectedTo("http://" + victim_->host());
  EXPECT_NE(pull.exit_status, 0) << pull.output;
  EXPECT_NE(pull.output.find("refusing to connect to " + victim_->host() + " at 127.0.0.1 (loopback)"),
            std::string::npos)
      << pull.output;
  EXPECT_TRUE(victim_->Log().empty()) << "the host's loopback service was reached";
  EXPECT_FALSE(Published());
}

TEST_F(Egress, ARedirectToCloudMetadataIsRefused) {
  CommandResult pull = PullRedirectedTo("https://169.254.169.254");
  EXPECT_NE(pull.exit_status, 0) << pull.output;
  EXPECT_NE(pull.output.find("at 169.254.169.254 (link-local)"), std::string::npos) << pull.output;
  EXPECT_FALSE(Published());
}

TEST_F(Egress, TheConfigMayAllowARange) {
  ScratchDir config("banger-config");
  std::ofstream(config.path() + "/config") << "egress_allow = 127.0.0.0/8\n";
  CommandResult pull = PullRedirectedTo("http://" + victim_->host(), "BANGER_CONFIG=" + config.path() + "/config");
  EXPECT_EQ(pull.exit_status, 0) << pull.output;
  EXPECT_FALSE(victim_->Log().empty()) << "the allowed range was used";
  EXPECT_TRUE(Published());
}

// Through a proxy the host configured, the gate connects the fetcher to the proxy, and a
// literal target is still held to the rule before the proxy is asked for it.
TEST_F(Egress, ThroughTheHostsProxyALoopbackTargetIsStillRefused) {
  front_ = TestProxy::Start(registry_->host(), {"--redirect-blobs-to", "http://" + victim_->host()}, netns_.name(),
                            netns_.inside());
  ASSERT_TRUE(front_);
  auto host_proxy = TestProxy::Start(front_->host(), {});
  ASSERT_TRUE(host_proxy);
  CommandResult pull = RunCommand("env http_proxy=http://" + host_proxy->host() + " BANGER_STATE_DIR=" + state_.path() +
                                  " BANGER_CACHE_DIR=" + cache_.path() + " DOCKER_CONFIG=" + cache_.path() + " " +
                                  BANGER_BIN_DIR + "/banger image pull -q --insecure-registry " + front_->host() + " " +
                                  front_->host() + "/demo/app:v1 2>&1");
  EXPECT_NE(pull.exit_status, 0) << pull.output;
  EXPECT_NE(pull.output.find("refusing to connect to " + victim_->host() + " at 127.0.0.1 (loopback)"),
            std::string::npos)
      << pull.output;
  EXPECT_FALSE(host_proxy->Log().empty()) << "the pull did not go through the proxy";
  EXPECT_FALSE(Published());
}

// A fetcher compromised after lockdown (a libcurl bug, say) cannot skip the rule: it
// has no network of its own and may not connect a socket, so its own socket reaches
// nothing; the broker's gate refuses the host's loopback whether the fetcher asks as
// itself or claims the registry's name for the address; and a socket the gate connected
// cannot be disconnected and pointed elsewhere. Before, the fetcher ran in the host's
// network namespace and applied the rule to itself: its own connect reached the victim.
TEST_F(Egress, ACompromisedFetcherReachesNothingOfTheHost) {
  StandInInstall compromised("banger-fetcher", BANGER_COMPROMISED_FETCHER);
  const std::string port = victim_->host().substr(victim_->host().rfind(':') + 1);
  std::ofstream(compromised.helper_path("banger-fetcher") + ".attack") << "reach-host " << port << "\n";
  CommandResult pull = BangerIn(compromised.dir(), state_.path(), cache_.path(),
                                "image pull -q --insecure-registry " + registry_->host() + " " + registry_->host() +
                                    "/demo/app:v1");
  EXPECT_NE(pull.exit_status, 0) << pull.output;
  EXPECT_NE(pull.output.find("direct: "), std::string::npos) << pull.output;
  EXPECT_EQ(pull.output.find("direct: sent"), std::string::npos) << pull.output;
  EXPECT_NE(pull.output.find("as itself: refusing to connect to 127.0.0.1:" + port + " at 127.0.0.1 (loopback)"),
            std::string::npos)
      << pull.output;
  EXPECT_NE(pull.output.find("as the registry: refusing to connect to " + netns_.inside() + ":" + port +
                             " at 127.0.0.1: not an address the name resolved to"),
            std::string::npos)
      << pull.output;
  EXPECT_NE(pull.output.find("reconnected: still the registry"), std::string::npos) << pull.output;
  EXPECT_TRUE(victim_->Log().empty()) << "the host's loopback service was reached";
  EXPECT_FALSE(Published());
}

// The token realm is held to the same rule: a registry on a private address whose realm
// is the host's loopback gets no token request.
TEST(EgressRealm, ATokenRealmOnTheHostsLoopbackIsRefused) {
  TestNetns netns;
  ASSERT_TRUE(netns.ok());
  auto registry = TestRegistry::Start({.token = "alice:s3cret", .netns = netns.name(), .address = netns.inside()});
  ASSERT_TRUE(registry);
  ScratchDir state("banger-state"), cache("banger-cache");
  CommandResult pull = BangerIn(BANGER_BIN_DIR, state.path(), cache.path(),
                                "image pull -q --insecure-registry " + registry->host() + " " + registry->host() + "/demo/app:v1");
  EXPECT_NE(pull.exit_status, 0) << pull.output;
  EXPECT_NE(pull.output.find("refusing to connect to 127.0.0.1:"), std::string::npos) << pull.output;
  EXPECT_NE(pull.output.find("(loopback)"), std::string::npos) << pull.output;
}

}  // namespace
}  // namespace banger::testing
