// banger-vsock-agent, network mode (banger-network-bootstrap): in a network namespace
// with a veth pair made by the test, the banger.* kernel parameters become the link
// state, the address and the default route, resolv.conf and the hostname; running it
// again changes nothing, and without parameters nothing changes (docs/guest.md).
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/test_support.h"

namespace banger::testing {
namespace {

const std::string kNetworkAgent = std::string(BANGER_BIN_DIR) + "/banger-vsock-agent";
const std::string kFullCmdline =
    "BOOT_IMAGE=/vmlinuz root=/dev/vda rw console=ttyS0 banger.ip=10.200.0.2/24 banger.gw=10.200.0.1 "
    "banger.dns=1.1.1.1,9.9.9.9 banger.hostname=guest1 quiet\n";

void WriteFile(const std::string& path, const std::string& content) { std::ofstream(path, std::ios::binary) << content; }

bool Contains(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

std::string HostHostname() {
  char name[256] = "";
  ::gethostname(name, sizeof name - 1);
  return name;
}

// A fresh network namespace "banger-test-<pid>" holding eth0, one end of a veth pair
// whose other end stays (down) on the host; removed after every test, failed or not.
class NetworkBootstrap : public ::testing::Test {
 protected:
  void SetUp() override {
    BANGER_REQUIRE_ROOT();
    Cleanup();  // leftovers of an earlier run that died with this pid
    ASSERT_EQ(Ip("netns add " + ns_).exit_status, 0) << "ip netns add failed";
    made_ = true;
    const CommandResult veth = Ip("link add " + host_veth_ + " type veth peer name eth0 netns " + ns_);
    ASSERT_EQ(veth.exit_status, 0) << veth.output;
    etc_ = scratch_.path() + "/etc";
    std::filesystem::create_directory(etc_);
  }
  void TearDown() override {
    if (made_) Cleanup();
  }
  void Cleanup() {
    // Deleting the host end removes the pair at once; the namespace's own teardown is asynchronous.
    for (const std::string& link : {host_veth_, extra_veth_}) RunCommand("ip link del " + link + " 2>/dev/null");
    RunCommand("ip netns del " + ns_ + " 2>/dev/null");
  }

  static CommandResult Ip(const std::string& arguments) { return RunCommand("ip " + arguments); }

  // Runs `program` (the agent's "network" mode by default) in the namespace and in a UTS
  // namespace of its own, then prints the host name that namespace ended with.
  CommandResult Bootstrap(const std::string& cmdline, const std::string& program = kNetworkAgent + " network") {
    const std::string file = scratch_.path() + "/cmdline";
    WriteFile(file, cmdline);
    return RunCommand("unshare --uts sh -c 'ip netns exec " + ns_ + " " + program + " --cmdline " + file + " --etc " +
                      etc_ + " --link-wait " + std::to_string(link_wait_) + " && echo \"uts hostname: $(hostname)\"'");
  }

  // What the bootstrap may change, as ip shows it: links and their flags, IPv4 addresses
  // and routes. Left out: IPv6 (the kernel adds link-local addresses by itself once a link
  // is up) and what the kernel's link watcher updates a moment later on its own (the
  // operational state, routes marked linkdown).
  std::string NetworkState() {
    // stderr is left out: while other tests delete their namespaces, ip may print "Peer netns
    // reference is invalid" as it looks up the veth peer's namespace name, which is not state.
    const auto shown = [&](const std::string& what) { return RunCommand("{ ip -n " + ns_ + " " + what + " 2>/dev/null; }").output; };
    const std::string state = shown("-o link show") + shown("-4 -o addr show") + shown("-4 route show table all");
    std::istringstream words(state);
    std::string normalized;
    for (std::string word; words >> word;) {
      if (word == "linkdown") continue;
      if (word == "state") {
        words >> word;
        continue;
      }
      normalized += word + " ";
    }
    return normalized;
  }
  std::vector<std::string> EtcEntries() {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(etc_)) names.push_back(entry.path().filename().string());
    return names;
  }
  void ExpectFullyConfigured() {
    const std::string address = Ip("-n " + ns_ + " -4 addr show eth0").output;
    EXPECT_TRUE(Contains(address, "inet 10.200.0.2/24 brd 10.200.0.255 scope global eth0")) << address;
    EXPECT_TRUE(Contains(address, ",UP")) << address;
    const std::string routes = Ip("-n " + ns_ + " route").output;
    EXPECT_TRUE(Contains(routes, "default via 10.200.0.1 dev eth0")) << routes;
    EXPECT_TRUE(Contains(routes, "10.200.0.0/24 dev eth0 proto kernel scope link src 10.200.0.2")) << routes;
    const std::string loopback = Ip("-n " + ns_ + " -4 addr show lo").output;
    EXPECT_TRUE(Contains(loopback, "LOOPBACK,UP")) << loopback;
    EXPECT_TRUE(Contains(loopback, "inet 127.0.0.1/8")) << loopback;
    const std::string resolv = ReadFile(etc_ + "/resolv.conf");
    EXPECT_TRUE(resolv.ends_with("\nnameserver 1.1.1.1\nnameserver 9.9.9.9\n")) << resolv;
    EXPECT_EQ(ReadFile(etc_ + "/hostname"), "guest1\n");
  }

  const std::string ns_ = "banger-test-" + std::to_string(::getpid());
  const std::string host_veth_ = "bgveth" + std::to_string(::getpid());
  const std::string extra_veth_ = "bgvetx" + std::to_string(::getpid());
  ScratchDir scratch_{"banger-netboot"};
  std::string etc_;
  int link_wait_ = 0;  // --link-wait: tests of a missing interface should not wait
  bool made_ = false;
};

TEST_F(NetworkBootstrap, AppliesAddressRouteResolverAndHostname) {
  const std::string host_name = HostHostname();
  const CommandResult result = Bootstrap(kFullCmdline);
  ASSERT_EQ(result.exit_status, 0) << result.output;
  ExpectFullyConfigured();
  // One line per action, and the host name set in the (test's private) UTS namespace.
  for (const char* line : {"banger-network-bootstrap: lo: up\n", "banger-network-bootstrap: eth0: up\n",
                           "banger-network-bootstrap: eth0: address 10.200.0.2/24 added\n",
                           "banger-network-bootstrap: default route via 10.200.0.1 dev eth0\n",
                           "resolv.conf: nameserver 1.1.1.1 9.9.9.9 (written)\n", "hostname: guest1 (written)\n",
                           "banger-network-bootstrap: hostname: guest1\n", "uts hostname: guest1\n"}) {
    EXPECT_TRUE(Contains(result.output, line)) << line << "\nin:\n" << result.output;
  }
  EXPECT_EQ(HostHostname(), host_name) << "the host's own name changed";
  // No temporary files left beside them.
  auto entries = EtcEntries();
  std::sort(entries.begin(), entries.end());
  EXPECT_EQ(entries, (std::vector<std::string>{"hostname", "resolv.conf"}));
}

TEST_F(NetworkBootstrap, SecondRunChangesNothing) {
  const CommandResult first = Bootstrap(kFullCmdline);
  ASSERT_EQ(first.exit_status, 0) << first.output;
  const std::string state = NetworkState();
  const std::string resolv = ReadFile(etc_ + "/resolv.conf");
  const auto resolv_time = std::filesystem::last_write_time(etc_ + "/resolv.conf");

  const CommandResult second = Bootstrap(kFullCmdline);
  ASSERT_EQ(second.exit_status, 0) << second.output;
  EXPECT_EQ(NetworkState(), state);
  ExpectFullyConfigured();
  EXPECT_EQ(ReadFile(etc_ + "/resolv.conf"), resolv);
  EXPECT_EQ(std::filesystem::last_write_time(etc_ + "/resolv.conf"), resolv_time) << "rewritten though unchanged";
  for (const char* line : {"eth0: address 10.200.0.2/24 already present\n", "resolv.conf: nameserver 1.1.1.1 9.9.9.9 (unchanged)\n",
                           "hostname: guest1 (unchanged)\n", "uts hostname: guest1\n"}) {
    EXPECT_TRUE(Contains(second.output, line)) << line << "\nin:\n" << second.output;
  }
}

TEST_F(NetworkBootstrap, WithoutParametersNothingChanges) {
  const std::string before = NetworkState();
  const std::string host_name = HostHostname();
  const CommandResult result = Bootstrap("BOOT_IMAGE=/vmlinuz root=/dev/vda console=ttyS0 ip=dhcp bangerip=1\n");
  ASSERT_EQ(result.exit_status, 0) << result.output;
  EXPECT_TRUE(Contains(result.output, "banger-network-bootstrap: no banger.ip, banger.gw, banger.dns or banger.hostname in "))
      << result.output;
  EXPECT_TRUE(Contains(result.output, "; nothing to change\n")) << result.output;
  EXPECT_EQ(NetworkState(), before);
  EXPECT_TRUE(Contains(Ip("-n " + ns_ + " link show eth0").output, "state DOWN"));
  EXPECT_TRUE(EtcEntries().empty());
  // The UTS namespace kept the name it inherited.
  EXPECT_TRUE(Contains(result.output, "uts hostname: " + host_name + "\n")) << result.output;
}

TEST_F(NetworkBootstrap, MalformedValuesAreNamedAndNothingIsApplied) {
  const std::string before = NetworkState();
  const std::string good = "banger.ip=10.200.0.2/24 banger.gw=10.200.0.1 banger.dns=1.1.1.1 banger.hostname=guest1 ";
  struct Case {
    std::string cmdline;
    std::string error;
  };
  const Case cases[] = {
      {"banger.ip=10.200.0.300/24", "banger-network-bootstrap: error: banger.ip: '10.200.0.300/24' is not IPV4ADDRESS/PREFIX"},
      {"banger.ip=10.200.0.2", "error: banger.ip: '10.200.0.2' is not IPV4ADDRESS/PREFIX"},
      {"banger.ip=10.200.0.2/33", "error: banger.ip:"},
      {good + "banger.gw=10.9.9.1", "error: banger.gw: 10.9.9.1 is outside 10.200.0.2/24"},
      {good + "banger.gw=gateway", "error: banger.gw: 'gateway' is not an IPv4 address"},
      {good + "banger.dns=1.1.1.1,", "error: banger.dns: '' is not an IP address"},
      {good + "banger.dns=1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4", "error: banger.dns: 4 servers"},
      {good + "banger.hostname=-guest", "error: banger.hostname: '-guest' is not a valid host name"},
      {good + "banger.hostname=" + std::string(65, 'a'), "error: banger.hostname:"},
      {good + "banger.hostname", "error: banger.hostname: needs a value"},
      {good + "banger.iface=eth7", "error: banger.iface: no interface named 'eth7'"},
      {good + "banger.iface=a/b", "error: banger.iface: 'a/b' is not an interface name"},
  };
  for (const Case& c : cases) {
    const CommandResult result = Bootstrap(c.cmdline + "\n");
    EXPECT_NE(result.exit_status, 0) << c.cmdline << "\n" << result.output;
    EXPECT_TRUE(Contains(result.output, c.error)) << "expected: " << c.error << "\ngot:\n" << result.output;
    EXPECT_FALSE(Contains(result.output, "uts hostname:")) << result.output;
    EXPECT_EQ(NetworkState(), before) << c.cmdline;
    EXPECT_TRUE(EtcEntries().empty()) << c.cmdline;
  }
  // A missing command-line file is an error too.
  const CommandResult missing = RunCommand("ip netns exec " + ns_ + " " + kNetworkAgent + " network --cmdline " +
                                           scratch_.path() + "/absent --etc " + etc_);
  EXPECT_EQ(missing.exit_status, 1);
  EXPECT_TRUE(Contains(missing.output, "banger-network-bootstrap: error: " + scratch_.path() + "/absent: No such file"))
      << missing.output;
}

TEST_F(NetworkBootstrap, WithoutEth0TheFirstNonLoopbackInterfaceIsUsed) {
  ASSERT_EQ(Ip("-n " + ns_ + " link set eth0 name ens5").exit_status, 0);
  const CommandResult result = Bootstrap("banger.ip=10.200.0.2/24 banger.gw=10.200.0.1\n");
  ASSERT_EQ(result.exit_status, 0) << result.output;
  EXPECT_TRUE(Contains(Ip("-n " + ns_ + " -4 addr show ens5").output, "inet 10.200.0.2/24"));
  EXPECT_TRUE(Contains(Ip("-n " + ns_ + " route").output, "default via 10.200.0.1 dev ens5"));
  EXPECT_TRUE(EtcEntries().empty()) << "no banger.dns or banger.hostname: no files";
}

TEST_F(NetworkBootstrap, AnInterfaceThatAppearsLateIsWaitedFor) {
  // As a NIC whose driver loads after the bootstrap started: eth1 comes a second later.
  link_wait_ = 10;
  BackgroundCommand late("sh -c 'sleep 1; ip link add " + extra_veth_ + " type veth peer name eth1 netns " + ns_ + "'",
                         scratch_.path() + "/late.out");
  const CommandResult result = Bootstrap("banger.iface=eth1 banger.ip=10.202.0.2/24 banger.gw=10.202.0.1\n");
  EXPECT_EQ(late.Wait(10000), 0) << late.Output();
  ASSERT_EQ(result.exit_status, 0) << result.output;
  EXPECT_TRUE(Contains(result.output, "waiting up to 10 s for interface eth1")) << result.output;
  EXPECT_TRUE(Contains(Ip("-n " + ns_ + " -4 addr show eth1").output, "inet 10.202.0.2/24"));
}

TEST_F(NetworkBootstrap, BangerIfaceChoosesTheInterface) {
  const CommandResult veth = Ip("link add " + extra_veth_ + " type veth peer name eth1 netns " + ns_);
  ASSERT_EQ(veth.exit_status, 0) << veth.output;
  const CommandResult result = Bootstrap("banger.iface=eth1 banger.ip=10.201.0.2/16 banger.gw=10.201.255.254\n");
  ASSERT_EQ(result.exit_status, 0) << result.output;
  EXPECT_TRUE(Contains(Ip("-n " + ns_ + " -4 addr show eth1").output, "inet 10.201.0.2/16"));
  EXPECT_TRUE(Contains(Ip("-n " + ns_ + " route").output, "default via 10.201.255.254 dev eth1"));
  EXPECT_EQ(Ip("-n " + ns_ + " -4 addr show eth0").output, "") << "eth0 got an IPv4 address";
  const std::string eth0 = Ip("-n " + ns_ + " link show eth0").output;
  EXPECT_TRUE(Contains(eth0, "<BROADCAST,MULTICAST>")) << "eth0 is not down any more: " << eth0;
}

// The guest runs it as /usr/local/libexec/banger-network-bootstrap, a link to the agent.
TEST_F(NetworkBootstrap, RunsUnderItsOwnNameThroughALink) {
  const std::string link = scratch_.path() + "/banger-network-bootstrap";
  std::filesystem::create_symlink(kNetworkAgent, link);
  const CommandResult result = Bootstrap(kFullCmdline, link);
  ASSERT_EQ(result.exit_status, 0) << result.output;
  ExpectFullyConfigured();
  EXPECT_TRUE(Contains(result.output, "uts hostname: guest1\n")) << result.output;
}

}  // namespace
}  // namespace banger::testing
