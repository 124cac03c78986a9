// IP addresses, the kind of network each belongs to, and CIDR ranges: what the fetcher's
// egress rule decides on (docs/fetcher.md, "Where a registry may send the fetcher"), and
// what the broker checks in the config's `egress_allow`.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <sys/socket.h>

#include "base/result.h"

namespace banger {

struct IpAddress {
  int family = AF_INET;  // AF_INET or AF_INET6; an IPv4-mapped IPv6 address is stored as IPv4
  std::array<uint8_t, 16> bytes{};
  bool operator==(const IpAddress&) const = default;
  std::string String() const;
};

// A literal address ("10.0.0.1", "::1", "[fe80::1]"); nullopt for anything else.
std::optional<IpAddress> ParseIpAddress(std::string_view text);
// The address of an AF_INET or AF_INET6 socket address.
std::optional<IpAddress> IpAddressOf(const sockaddr* address);

enum class AddressClass {
  kPublic,
  kLoopback,   // 127.0.0.0/8, ::1
  kLinkLocal,  // 169.254.0.0/16 (cloud metadata among them), fe80::/10
  kPrivate,    // 10/8, 172.16/12, 192.168/16, 100.64/10 (shared), fc00::/7 (unique local)
  kReserved,   // unspecified, multicast, 0/8, 240/4, broadcast
};
// An IPv6 address that carries an IPv4 one (NAT64, 6to4, ::a.b.c.d) is classed as that.
AddressClass ClassifyAddress(const IpAddress& address);
std::string_view AddressClassName(AddressClass kind);  // "loopback", "link-local", ...

// "host" of "host:port", "[v6]:port" or "host"; brackets removed.
std::string_view HostWithoutPort(std::string_view host_and_port);
// The address a host (without port) names literally: `localhost` is 127.0.0.1; nullopt
// for a name.
std::optional<IpAddress> LiteralHostAddress(std::string_view host);

struct Cidr {
  IpAddress base;
  int prefix = 0;
  bool Contains(const IpAddress& address) const;
};
// "10.0.0.0/8", "fd00::/8"; a bare address is a /32 or /128. Host bits must be zero.
Result<Cidr> ParseCidr(std::string_view text);

}  // namespace banger
