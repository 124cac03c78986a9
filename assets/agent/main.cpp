// banger-vsock-agent: the static guest binary (docs/guest.md). Multi-call:
//   banger-vsock-agent [agent] [--listen ADDRESS]       the health agent (default vsock:10789)
//   banger-vsock-agent network [--cmdline F] [--etc D]  the network bootstrap, also run
//   banger-network-bootstrap [--cmdline F] [--etc D]    through a link of that name
#include <string>
#include <string_view>
#include <vector>

#include "assets/agent/agent.h"
#include "assets/agent/bootstrap.h"
#include "assets/agent/common.h"
#include "banger_version.h"

namespace {

constexpr std::string_view kHelp =
    "Usage:\n"
    "  banger-vsock-agent [agent] [--listen ADDRESS]\n"
    "  banger-vsock-agent network [--cmdline FILE] [--etc DIR] [--link-wait SECONDS]\n"
    "  banger-network-bootstrap [--cmdline FILE] [--etc DIR] [--link-wait SECONDS]   (the same, through a link)\n"
    "  banger-vsock-agent --version | --help\n"
    "\n"
    "Agent mode serves banger's guest health protocol, HTTP/1.0 on ADDRESS:\n"
    "  GET /healthz -> 200 {\"status\":\"ok\",\"uptime_seconds\":N,\"boot_id\":\"...\",\"version\":\"...\"}\n"
    "  other paths -> 404, other methods -> 405, a malformed request line -> 400; a\n"
    "  request head over 8 KiB, or a request not complete 5 s after connecting, is\n"
    "  dropped unanswered; at most 8 connections at a time.\n"
    "  ADDRESS is vsock:PORT (default vsock:10789, any CID), unix:PATH or tcp:IPV4:PORT.\n"
    "  While the vsock address family or device is missing it retries every 3 s.\n"
    "  Once listening it drops root to uid/gid 65534, sets no_new_privs and installs a\n"
    "  seccomp allowlist (anything else kills it).\n"
    "\n"
    "Network mode reads from FILE (default /proc/cmdline):\n"
    "  banger.ip=ADDR/PREFIX banger.gw=GW banger.dns=IP[,IP...] banger.hostname=NAME\n"
    "  banger.iface=NAME (default: eth0, else the first non-loopback interface)\n"
    "  and, over rtnetlink (no ip tool needed), sets loopback and the interface up, adds\n"
    "  the address and the default route; writes DIR/resolv.conf and DIR/hostname\n"
    "  (DIR defaults to /etc) and sets the host name. Running it again changes nothing;\n"
    "  without banger.* parameters it changes nothing and says so.\n"
    "\n"
    "See docs/guest.md in the banger sources.\n";

std::string_view Basename(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace banger::agent;
  std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  const bool invoked_as_bootstrap = argc > 0 && Basename(argv[0]) == "banger-network-bootstrap";

  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    WriteAll(1, kHelp);
    return 0;
  }
  if (!args.empty() && args[0] == "--version") {
    WriteAll(1, "banger-vsock-agent " BANGER_VERSION "\n");
    return 0;
  }
  if (invoked_as_bootstrap || (!args.empty() && args[0] == "network")) {
    SetProgramName("banger-network-bootstrap");
    if (!invoked_as_bootstrap) args.erase(args.begin());
    return RunNetworkBootstrap(args);
  }
  if (!args.empty() && args[0] == "agent") args.erase(args.begin());
  return RunAgent(args);
}
