// The fetcher's way out (messages.h kNetResolve..kNetPermit). The fetcher runs in a
// network namespace with nothing in it; for every name and every connection it asks the
// broker on a channel of its own, and the broker applies the egress rule to the address
// it connects itself (docs/fetcher.md, "Where a registry may send the fetcher"). Strict
// decoding like fetch_protocol.h's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ipc/fields.h"

namespace banger::ipc {

inline constexpr size_t kMaxHostBytes = 253;        // a DNS name; a literal address is shorter
inline constexpr size_t kMaxAddressTextBytes = 45;  // the longest IPv6 text form
inline constexpr size_t kMaxResolvedAddresses = 16;
inline constexpr uint64_t kMaxPort = 65535;

// kNetResolve: a name (or a literal address) the fetcher is about to connect to.
struct NetResolve {
  static constexpr const char* kName = "net-resolve";
  std::string host;
  bool operator==(const NetResolve&) const = default;
  template <class Self, class V>
  static void Fields(Self& s, V& v) {
    v.String("host", s.host, kMaxHostBytes);
  }
};

// kNetAddresses: what the name resolved to (empty for a kNetPermit).
struct NetAddresses {
  static constexpr const char* kName = "net-addresses";
  std::vector<std::string> addresses;
  bool operator==(const NetAddresses&) const = default;
  template <class Self, class V>
  static void Fields(Self& s, V& v) {
    v.Strings("addresses", s.addresses, kMaxResolvedAddresses, kMaxAddressTextBytes);
  }
};

// kNetConnect: one of the addresses `host` resolved to, and the port.
struct NetConnect {
  static constexpr const char* kName = "net-connect";
  std::string host;
  std::string address;
  uint64_t port = 0;
  bool operator==(const NetConnect&) const = default;
  template <class Self, class V>
  static void Fields(Self& s, V& v) {
    v.String("host", s.host, kMaxHostBytes).String("address", s.address, kMaxAddressTextBytes);
    v.Uint("port", s.port, kMaxPort);
  }
};

// kNetPermit: a target the fetcher will ask a proxy the host configured for.
struct NetPermit {
  static constexpr const char* kName = "net-permit";
  std::string host;
  uint64_t port = 0;
  bool operator==(const NetPermit&) const = default;
  template <class Self, class V>
  static void Fields(Self& s, V& v) {
    v.String("host", s.host, kMaxHostBytes).Uint("port", s.port, kMaxPort);
  }
};

}  // namespace banger::ipc
