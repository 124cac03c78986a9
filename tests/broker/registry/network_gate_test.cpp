// The broker's network gate, driven as the fetcher drives it (raw messages on its
// channel): names resolved by the broker, sockets connected by the broker, the egress
// rule applied to the address it connects, and nothing for an address the name did not
// resolve to. The pulls that use it: Egress.* (tests/adversary/egress_test.cpp).
#include "broker/registry/network_gate.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

namespace banger::broker {
namespace {

// A TCP listener on 127.0.0.1, on a port of its own.
struct Listener {
  Listener() {
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof at;
    EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&at), sizeof at), 0);
    EXPECT_EQ(::listen(fd.get(), 4), 0);
    EXPECT_EQ(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&at), &length), 0);
    port = ntohs(at.sin_port);
  }
  bool Reached() {
    pollfd pfd{fd.get(), POLLIN, 0};
    return ::poll(&pfd, 1, 200) == 1;
  }
  UniqueFd fd{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  uint16_t port = 0;
};

class Gate : public ::testing::Test {
 protected:
  void Open(EgressPolicy policy) {
    UniqueFd end;
    auto gate = NetworkGate::Open(std::move(policy), end);
    ASSERT_TRUE(gate) << gate.error().message;
    gate_ = std::move(*gate);
    fetcher_ = ipc::Channel(std::move(end), "gate");
  }
  Result<ipc::Message> Ask(ipc::MessageType type, const std::string& body) {
    BANGER_TRY(fetcher_.Send(ipc::Message::Make(type, body)));
    return fetcher_.Receive(5000);
  }
  Result<ipc::Message> Connect(const std::string& host, uint16_t port) {
    return Ask(ipc::MessageType::kNetConnect, ipc::Encode(ipc::NetConnect{host, "127.0.0.1", port}));
  }
  static std::string ErrorText(const Result<ipc::Message>& reply) {
    if (!reply) return "no reply: " + reply.error().message;
    return reply->type == ipc::MessageType::kError ? ipc::ErrorFromMessage(*reply).message : "not an error";
  }

  std::unique_ptr<NetworkGate> gate_;
  ipc::Channel fetcher_;
  Listener listener_;
};

TEST_F(Gate, ResolvesAndConnectsForTheRegistry) {
  Open({.registry = EndpointOf("127.0.0.1", {443, 80})});
  auto resolved = Ask(ipc::MessageType::kNetResolve, ipc::Encode(ipc::NetResolve{"127.0.0.1"}));
  ASSERT_TRUE(resolved) << resolved.error().message;
  ASSERT_EQ(resolved->type, ipc::MessageType::kNetAddresses);
  EXPECT_EQ(ipc::Decode<ipc::NetAddresses>(resolved->body)->addresses, std::vector<std::string>{"127.0.0.1"});
  auto connected = Connect("127.0.0.1", listener_.port);
  ASSERT_TRUE(connected) << connected.error().message;
  ASSERT_EQ(connected->type, ipc::MessageType::kNetConnected) << ErrorText(connected);
  ASSERT_EQ(connected->fds.size(), 1u);
  EXPECT_TRUE(listener_.Reached());
}

TEST_F(Gate, RefusesTheHostsLoopbackToAnyoneButALoopbackRegistry) {
  Open({.registry = EndpointOf("10.20.0.1", {443, 80})});
  EXPECT_EQ(ErrorText(Connect("127.0.0.1", listener_.port)),
            "refusing to connect to 127.0.0.1:" + std::to_string(listener_.port) +
                " at 127.0.0.1 (loopback), where 10.20.0.1 (at a private address) sent a redirect or a token request; "
                "add the range to the config's egress_allow if that is intended");
  // Claiming the registry's name does not make its address another one.
  EXPECT_EQ(ErrorText(Connect("10.20.0.1", listener_.port)),
            "refusing to connect to 10.20.0.1:" + std::to_string(listener_.port) +
                " at 127.0.0.1: not an address the name resolved to");
  EXPECT_FALSE(listener_.Reached()) << "a refused connection was made";
}

TEST_F(Gate, AMalformedRequestIsRefusedAndAStrangeOneEndsTheService) {
  Open({.registry = EndpointOf("127.0.0.1", {443, 80})});
  EXPECT_NE(ErrorText(Ask(ipc::MessageType::kNetConnect, "[]")), "not an error");
  EXPECT_NE(ErrorText(Ask(ipc::MessageType::kNetConnect, R"({"host":"127.0.0.1","address":"127.0.0.1","port":-1})")),
            "not an error");
  EXPECT_NE(ErrorText(Ask(ipc::MessageType::kNetResolve, R"({"host":"a\u001b[31m"})")), "not an error");
  auto after_ping = Ask(ipc::MessageType::kPing, "");
  EXPECT_FALSE(after_ping) << "the gate answered a message it does not serve";
  EXPECT_FALSE(listener_.Reached());
}

TEST(EgressPolicy, TheRuleForEachKindOfHost) {
  const IpAddress loopback = *ParseIpAddress("127.0.0.1"), metadata = *ParseIpAddress("169.254.169.254"),
                  intranet = *ParseIpAddress("10.1.2.3"), public_address = *ParseIpAddress("8.8.8.8");
  EgressPolicy policy{.registry = EndpointOf("registry.example", {443, 80}),
                      .proxies = {EndpointOf("proxy.internal:3128", {1080})}};
  EXPECT_TRUE(policy.CheckConnection("registry.example", 443, loopback)) << "the user named it";
  EXPECT_FALSE(policy.CheckConnection("registry.example", 22, loopback)) << "at its own port only";
  EXPECT_TRUE(policy.CheckConnection("proxy.internal", 3128, intranet)) << "the host configured it";
  EXPECT_FALSE(policy.CheckConnection("proxy.internal", 6379, intranet)) << "at its own port only";
  EXPECT_TRUE(policy.CheckConnection("cdn.example", 443, public_address));
  EXPECT_FALSE(policy.CheckConnection("cdn.example", 443, loopback));
  EXPECT_FALSE(policy.CheckConnection("cdn.example", 80, metadata));
  EXPECT_FALSE(policy.CheckConnection("cdn.example", 443, *ParseIpAddress("64:ff9b::7f00:1"))) << "NAT64 of loopback";
  EXPECT_FALSE(policy.CheckConnection("cdn.example", 443, intranet));
  policy.allow.push_back(*ParseCidr("10.0.0.0/8"));
  EXPECT_TRUE(policy.CheckConnection("cdn.example", 443, intranet));
  const EgressPolicy on_loopback{.registry = EndpointOf("localhost:5000", {443, 80})};
  EXPECT_TRUE(on_loopback.CheckConnection("realm.local", 443, loopback)) << "a loopback registry";
  EXPECT_FALSE(on_loopback.CheckConnection("realm.local", 443, intranet));
  EXPECT_TRUE(EgressPolicy{.any_address = true}.CheckConnection("bundles.internal", 80, metadata)) << "the operator's URL";
}

// A tenant's pull through bangerd: naming a registry on the host's loopback or its
// networks grants nothing; only the host's egress_allow opens such a range (fetch.cpp
// leaves `tenant` unset for a registry the host's config names). The proxies are the
// host's own.
TEST(EgressPolicy, ATenantsRegistryGainsNothingFromItsOwnAddress) {
  const IpAddress loopback = *ParseIpAddress("127.0.0.1"), metadata = *ParseIpAddress("169.254.169.254"),
                  intranet = *ParseIpAddress("10.1.2.3"), public_address = *ParseIpAddress("8.8.8.8");
  EgressPolicy policy{.registry = EndpointOf("127.0.0.1:6379", {443, 80}),
                      .proxies = {EndpointOf("proxy.internal:3128", {1080})},
                      .tenant = true};
  EXPECT_FALSE(policy.CheckConnection("127.0.0.1", 6379, loopback)) << "the host's redis";
  EXPECT_FALSE(policy.CheckConnection("realm.local", 443, loopback)) << "nor redirects at its kind";
  EXPECT_FALSE(policy.CheckProxyTarget("127.0.0.1", 6379, loopback));
  policy.registry = EndpointOf("metadata.example", {443, 80});
  EXPECT_FALSE(policy.CheckConnection("metadata.example", 80, metadata)) << "a name that resolves to the metadata service";
  EXPECT_TRUE(policy.CheckConnection("metadata.example", 443, public_address));
  EXPECT_TRUE(policy.CheckConnection("proxy.internal", 3128, intranet)) << "the host configured it";
  auto refused = policy.CheckConnection("metadata.example", 443, intranet);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("egress_allow"), std::string::npos) << refused.error().message;
  policy.allow.push_back(*ParseCidr("10.0.0.0/8"));
  EXPECT_TRUE(policy.CheckConnection("metadata.example", 443, intranet));
}

// Being the proxy's address lets the gate connect to the proxy, never lets the proxy be
// asked for the same host as a target (a proxy on the host's loopback would otherwise
// open every loopback port to a redirect).
TEST(EgressPolicy, AProxyTargetGainsNothingFromBeingTheProxysHost) {
  const IpAddress loopback = *ParseIpAddress("127.0.0.1");
  const EgressPolicy policy{.registry = EndpointOf("10.20.0.1:5000", {443, 80}),
                            .proxies = {EndpointOf("127.0.0.1:3128", {1080})}};
  EXPECT_TRUE(policy.CheckConnection("127.0.0.1", 3128, loopback));
  EXPECT_FALSE(policy.CheckProxyTarget("127.0.0.1", 3128, loopback));
  EXPECT_FALSE(policy.CheckProxyTarget("127.0.0.1", 8080, loopback));
  EXPECT_FALSE(policy.CheckConnection("127.0.0.1", 8080, loopback));
}

TEST(EgressPolicy, ProxiesAreTheEndpointsOfTheProxySettings) {
  const auto proxies = ProxiesOf({"https_proxy=http://user:pw@Proxy.Example:3128/", "HTTP_PROXY=[::1]:8080",
                                  "no_proxy=skip.example", "ALL_PROXY=socks5://socks.internal",
                                  "https_proxy=https://tls.proxy"});
  ASSERT_EQ(proxies.size(), 4u);
  EXPECT_TRUE(proxies[0].Matches("proxy.example", 3128));
  EXPECT_TRUE(proxies[1].Matches("::1", 8080));
  EXPECT_TRUE(proxies[2].Matches("socks.internal", 1080)) << "libcurl's default port";
  EXPECT_TRUE(proxies[3].Matches("tls.proxy", 443));
  EXPECT_FALSE(proxies[0].Matches("proxy.example", 1080));
}

}  // namespace
}  // namespace banger::broker
