// The network bootstrap's input: banger.* kernel parameters, parsed and checked before
// anything is changed (docs/guest.md, "Network bootstrap").
#pragma once

#include <netinet/in.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace banger::agent {

// Splits a kernel command line the way the kernel does: on spaces, with double quotes
// grouping (param="a b" gives param=a b).
std::vector<std::string> SplitCmdline(std::string_view cmdline);

// What the parameters ask for. A missing parameter leaves that part alone.
struct NetworkPlan {
  bool has_address = false;
  in_addr address{};
  int prefix = 0;
  bool has_gateway = false;
  in_addr gateway{};
  std::vector<std::string> nameservers;  // banger.dns, in order; IPv4 or IPv6
  std::string hostname;                  // banger.hostname
  std::string iface;                     // banger.iface; empty: eth0, else the first non-loopback link
  std::vector<std::string> notes;        // e.g. unknown banger.* parameters, ignored

  bool configures_network() const { return has_address || has_gateway; }
  bool empty() const { return !configures_network() && nameservers.empty() && hostname.empty(); }
};

// Reads banger.ip, banger.gw, banger.dns, banger.hostname and banger.iface from the
// words of a command line (the last of a repeated parameter wins). Returns "" or an
// error naming the parameter.
std::string PlanFromCmdline(const std::vector<std::string>& words, NetworkPlan* plan);

// "a.b.c.d" of an IPv4 address.
std::string FormatIpv4(in_addr address);

}  // namespace banger::agent
