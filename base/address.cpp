#include "base/address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace banger {
namespace {

IpAddress FromV6(const uint8_t* bytes) {
  static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  IpAddress address;
  if (std::memcmp(bytes, kMappedPrefix, 12) == 0) {
    std::memcpy(address.bytes.data(), bytes + 12, 4);
    return address;
  }
  address.family = AF_INET6;
  std::memcpy(address.bytes.data(), bytes, 16);
  return address;
}

// Whether the first `prefix` bits of `a` equal those of `b` (16 bytes each).
bool SamePrefix(const uint8_t* a, const uint8_t* b, int prefix) {
  const int whole = prefix / 8;
  if (std::memcmp(a, b, whole) != 0) return false;
  if (prefix % 8 == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - prefix % 8));
  return (a[whole] & mask) == (b[whole] & mask);
}

struct Range {
  int family;
  uint8_t bytes[16];
  int prefix;
  AddressClass kind;
};

const Range kRanges[] = {
    {AF_INET, {127}, 8, AddressClass::kLoopback},
    {AF_INET, {169, 254}, 16, AddressClass::kLinkLocal},
    {AF_INET, {10}, 8, AddressClass::kPrivate},
    {AF_INET, {172, 16}, 12, AddressClass::kPrivate},
    {AF_INET, {192, 168}, 16, AddressClass::kPrivate},
    {AF_INET, {100, 64}, 10, AddressClass::kPrivate},
    {AF_INET, {198, 18}, 15, AddressClass::kPrivate},  // benchmarking networks, often lab-internal
    {AF_INET, {0}, 8, AddressClass::kReserved},
    {AF_INET, {224}, 3, AddressClass::kReserved},  // multicast, 240/4 and broadcast
    {AF_INET6, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128, AddressClass::kLoopback},
    {AF_INET6, {}, 128, AddressClass::kReserved},
    {AF_INET6, {0xfe, 0x80}, 10, AddressClass::kLinkLocal},
    {AF_INET6, {0xfc}, 7, AddressClass::kPrivate},
    {AF_INET6, {0, 0x64, 0xff, 0x9b, 0, 1}, 48, AddressClass::kPrivate},  // local-use NAT64
    {AF_INET6, {0xff}, 8, AddressClass::kReserved},
};

}  // namespace

std::string IpAddress::String() const {
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(family, bytes.data(), text, sizeof text);
  return text;
}

std::optional<IpAddress> ParseIpAddress(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  const std::string copy(text);
  uint8_t bytes[16] = {};
  if (::inet_pton(AF_INET, copy.c_str(), bytes) == 1) {
    IpAddress address;
    std::memcpy(address.bytes.data(), bytes, 4);
    return address;
  }
  if (::inet_pton(AF_INET6, copy.c_str(), bytes) == 1) return FromV6(bytes);
  return std::nullopt;
}

std::optional<IpAddress> IpAddressOf(const sockaddr* address) {
  if (address == nullptr) return std::nullopt;
  if (address->sa_family == AF_INET) {
    IpAddress out;
    std::memcpy(out.bytes.data(), &reinterpret_cast<const sockaddr_in*>(address)->sin_addr, 4);
    return out;
  }
  if (address->sa_family == AF_INET6) {
    return FromV6(reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr.s6_addr);
  }
  return std::nullopt;
}

// The IPv4 address an IPv6 one carries to an IPv4 host: NAT64 (64:ff9b::/96), 6to4
// (2002::/16) and the deprecated IPv4-compatible form (::a.b.c.d). What it reaches is
// that IPv4 host, so it is classed as that address.
std::optional<IpAddress> EmbeddedIpv4(const IpAddress& address) {
  static constexpr uint8_t kNat64[12] = {0, 0x64, 0xff, 0x9b};
  static constexpr uint8_t kCompatible[12] = {};
  const uint8_t* b = address.bytes.data();
  IpAddress v4;
  if (address.family != AF_INET6) return std::nullopt;
  if (b[0] == 0x20 && b[1] == 0x02) {
    std::memcpy(v4.bytes.data(), b + 2, 4);
    return v4;
  }
  const bool compatible = std::memcmp(b, kCompatible, 12) == 0 && (b[12] | b[13]) != 0;  // not :: or ::1
  if (std::memcmp(b, kNat64, 12) != 0 && !compatible) return std::nullopt;
  std::memcpy(v4.bytes.data(), b + 12, 4);
  return v4;
}

AddressClass ClassifyAddress(const IpAddress& address) {
  if (auto v4 = EmbeddedIpv4(address)) return ClassifyAddress(*v4);
  for (const Range& range : kRanges) {
    if (range.family == address.family && SamePrefix(address.bytes.data(), range.bytes, range.prefix)) return range.kind;
  }
  return AddressClass::kPublic;
}

std::string_view AddressClassName(AddressClass kind) {
  switch (kind) {
    case AddressClass::kPublic: return "public";
    case AddressClass::kLoopback: return "loopback";
    case AddressClass::kLinkLocal: return "link-local";
    case AddressClass::kPrivate: return "private";
    case AddressClass::kReserved: return "reserved";
  }
  return "unknown";
}

std::string_view HostWithoutPort(std::string_view host_and_port) {
  if (!host_and_port.empty() && host_and_port.front() == '[') {
    const size_t close = host_and_port.find(']');
    return close == std::string_view::npos ? host_and_port : host_and_port.substr(1, close - 1);
  }
  const size_t colon = host_and_port.find(':');
  if (colon != std::string_view::npos && host_and_port.find(':', colon + 1) != std::string_view::npos) {
    return host_and_port;  // a bare IPv6 address
  }
  return host_and_port.substr(0, colon);
}

std::optional<IpAddress> LiteralHostAddress(std::string_view host) {
  return ParseIpAddress(host == "localhost" ? std::string_view("127.0.0.1") : host);
}

bool Cidr::Contains(const IpAddress& address) const {
  return address.family == base.family && SamePrefix(address.bytes.data(), base.bytes.data(), prefix);
}

Result<Cidr> ParseCidr(std::string_view text) {
  const size_t slash = text.find('/');
  auto address = ParseIpAddress(text.substr(0, slash));
  const std::string shown(text.substr(0, 100));
  if (!address) return Error{ErrorCode::kInvalidArgument, "'" + shown + "' is not an address or CIDR range"};
  Cidr cidr{*address, address->family == AF_INET ? 32 : 128};
  if (slash != std::string_view::npos) {
    const std::string_view bits = text.substr(slash + 1);
    int prefix = 0;
    if (bits.empty() || bits.size() > 3) return Error{ErrorCode::kInvalidArgument, "'" + shown + "' has no valid prefix length"};
    for (char c : bits) {
      if (c < '0' || c > '9') return Error{ErrorCode::kInvalidArgument, "'" + shown + "' has no valid prefix length"};
      prefix = prefix * 10 + (c - '0');
    }
    if (prefix > cidr.prefix) return Error{ErrorCode::kInvalidArgument, "'" + shown + "' has a prefix longer than its address"};
    cidr.prefix = prefix;
  }
  for (int bit = cidr.prefix; bit < (cidr.base.family == AF_INET ? 32 : 128); ++bit) {
    if (cidr.base.bytes[bit / 8] & (0x80 >> (bit % 8))) {
      return Error{ErrorCode::kInvalidArgument, "'" + shown + "' has host bits set (did you mean the network?)"};
    }
  }
  return cidr;
}

}  // namespace banger
