// The fetcher's only way out. It runs in a network namespace with nothing in it, so it
// can reach no socket of the host by itself; for each name it asks this gate to resolve
// it, and for each connection to connect one of those addresses (ipc/net_protocol.h).
// The gate resolves each name once per fetcher (so a registry's name cannot change its
// address mid-pull), applies the egress rule to the address it connects itself, and
// hands back the connected socket: a fetcher compromised through libcurl cannot ignore
// the rule, as it could when it checked itself (docs/fetcher.md, "Where a registry may
// send the fetcher").
#pragma once

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/address.h"
#include "base/fd.h"
#include "base/result.h"
#include "ipc/channel.h"
#include "ipc/net_protocol.h"

namespace banger::broker {

// A host (lowercase, without port or brackets) and the ports the rule grants it.
struct Endpoint {
  std::string host;
  std::vector<uint16_t> ports;
  bool Matches(const std::string& other_host, uint64_t port) const;
};
// "host[:port]", "[v6]:port": the port given, else `default_ports`.
Endpoint EndpointOf(std::string_view host_and_port, std::vector<uint16_t> default_ports);

struct EgressPolicy {
  // The registry the user named (its API host; 443 and 80 when it names no port): any
  // address its name resolves to, at its port. Empty host: none.
  Endpoint registry;
  std::vector<Endpoint> proxies;  // the proxies the host configured for the fetcher
  std::vector<Cidr> allow;        // the config's egress_allow
  bool any_address = false;       // the operator's own URL (a catalog's bundle)
  // A tenant's request (through bangerd) for a registry the host's config does not name:
  // being the registry, or of its kind, grants nothing, so a tenant cannot aim root's
  // fetcher at a service on the host or its networks; such an address needs `allow`.
  bool tenant = false;

  // Whether the gate may connect to `address`, one that `host` resolved to: always for
  // the proxies, and the registry (unless `tenant`) at their ports; for anything else (redirect targets,
  // token realms) when the address is public, in `allow`, or of the registry's own kind
  // (a loopback registry may send the fetcher to loopback).
  Result<void> CheckConnection(const std::string& host, uint64_t port, const IpAddress& address) const;
  // Whether a proxy may be asked for a target whose host is the literal `address`: as
  // a connection, but being a proxy's address grants nothing.
  Result<void> CheckProxyTarget(const std::string& host, uint64_t port, const IpAddress& address) const;

 private:
  Result<void> CheckKind(const std::string& host, uint64_t port, const IpAddress& address) const;
};

// The proxies the proxy settings (KEY=VALUE, as passed to the fetcher) name, each at its
// port (libcurl's default 1080, 443 for an https:// proxy).
std::vector<Endpoint> ProxiesOf(const std::vector<std::string>& environment);

class NetworkGate {
 public:
  // Starts serving on a thread; `fetcher_end` becomes the socket for the fetcher.
  static Result<std::unique_ptr<NetworkGate>> Open(EgressPolicy policy, UniqueFd& fetcher_end);
  // Stops serving and joins (a connect or a lookup under way finishes first).
  ~NetworkGate();
  NetworkGate(const NetworkGate&) = delete;
  NetworkGate& operator=(const NetworkGate&) = delete;

 private:
  NetworkGate(EgressPolicy policy, ipc::Channel channel);
  void Serve();
  Result<ipc::Message> Answer(const ipc::Message& request);
  Result<std::vector<IpAddress>> Resolve(const std::string& host);
  Result<UniqueFd> Connect(const ipc::NetConnect& request);

  EgressPolicy policy_;
  ipc::Channel channel_;
  std::map<std::string, std::vector<IpAddress>> resolved_;  // each name once
  size_t lookups_ = 0;                                       // at most kMaxLookups
  std::thread thread_;
};

}  // namespace banger::broker
