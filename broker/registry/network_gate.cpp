#include "broker/registry/network_gate.h"

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "base/text.h"

namespace banger::broker {
namespace {

constexpr int kConnectTimeoutMs = 20000;
// Names one fetcher may have looked up (a registry, its token realm, a few redirect
// hosts are what a pull needs): each lookup is DNS traffic from the host and a cached
// answer in the broker.
constexpr size_t kMaxLookups = 64;

std::string HostAndPort(const std::string& host, uint64_t port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// Names compare in lower case, as DNS compares them and as the policy holds them.
void Lowercase(std::string& host) { host = AsciiLower(host); }

// A DNS name as a URL carries it: letters, digits, '-' and '.'; or a literal address.
bool IsHostName(const std::string& host) {
  if (host.empty() || LiteralHostAddress(host)) return !host.empty();
  return std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

sockaddr_storage SocketAddressOf(const IpAddress& address, uint16_t port, socklen_t& length) {
  sockaddr_storage storage{};
  if (address.family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&storage);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    std::memcpy(&in->sin_addr, address.bytes.data(), 4);
    length = sizeof(sockaddr_in);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    std::memcpy(&in6->sin6_addr, address.bytes.data(), 16);
    length = sizeof(sockaddr_in6);
  }
  return storage;
}

// connect(2) with a deadline: non-blocking, then poll for the outcome.
Result<void> ConnectWithin(int fd, const sockaddr_storage& to, socklen_t length, const std::string& what) {
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), length) == 0) return {};
  if (errno != EINPROGRESS) return Error::FromErrno("connect to " + what);
  pollfd pfd{fd, POLLOUT, 0};
  int ready;
  do {
    ready = ::poll(&pfd, 1, kConnectTimeoutMs);
  } while (ready < 0 && errno == EINTR);
  if (ready < 0) return Error::FromErrno("poll for connect to " + what);
  if (ready == 0) return Error{ErrorCode::kIo, "connect to " + what + ": timed out"};
  int failure = 0;
  socklen_t size = sizeof failure;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &failure, &size) != 0) return Error::FromErrno("getsockopt(SO_ERROR)");
  if (failure != 0) return Error{ErrorCode::kIo, "connect to " + what + ": " + std::strerror(failure)};
  // A second connect completes the socket's own state (as a blocking connect would have):
  // the fetcher may not call connect (seccomp_policy.cpp).
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), length) != 0 && errno != EISCONN) {
    return Error::FromErrno("connect to " + what);
  }
  return {};
}

}  // namespace

bool Endpoint::Matches(const std::string& other_host, uint64_t port) const {
  return !host.empty() && other_host == host && std::find(ports.begin(), ports.end(), port) != ports.end();
}

Endpoint EndpointOf(std::string_view host_and_port, std::vector<uint16_t> default_ports) {
  Endpoint endpoint{std::string(HostWithoutPort(host_and_port)), std::move(default_ports)};
  Lowercase(endpoint.host);
  const size_t colon = host_and_port.rfind(':');
  const size_t bracket = host_and_port.rfind(']');
  const bool bare_v6 = bracket == std::string_view::npos && host_and_port.find(':') != colon;
  if (colon != std::string_view::npos && !bare_v6 && (bracket == std::string_view::npos || colon > bracket)) {
    const std::string digits(host_and_port.substr(colon + 1));
    const long port = digits.empty() || digits.size() > 5 ? 0 : std::strtol(digits.c_str(), nullptr, 10);
    endpoint.ports = {static_cast<uint16_t>(port > 0 && port <= 65535 ? port : 0)};
  }
  return endpoint;
}

Result<void> EgressPolicy::CheckConnection(const std::string& host, uint64_t port, const IpAddress& address) const {
  if (any_address || (!tenant && registry.Matches(host, port))) return {};
  for (const Endpoint& proxy : proxies) {
    if (proxy.Matches(host, port)) return {};
  }
  return CheckKind(host, port, address);
}

Result<void> EgressPolicy::CheckProxyTarget(const std::string& host, uint64_t port, const IpAddress& address) const {
  if (any_address || (!tenant && registry.Matches(host, port))) return {};
  return CheckKind(host, port, address);
}

Result<void> EgressPolicy::CheckKind(const std::string& host, uint64_t port, const IpAddress& address) const {
  const AddressClass kind = ClassifyAddress(address);
  if (kind == AddressClass::kPublic) return {};
  for (const Cidr& range : allow) {
    if (range.Contains(address)) return {};
  }
  if (tenant) {
    return Error{ErrorCode::kInvalidArgument,
                 "refusing to connect to " + HostAndPort(host, port) + " at " + address.String() + " (" +
                     std::string(AddressClassName(kind)) +
                     "): a tenant's pull reaches a loopback, link-local or private address only when the host's "
                     "config names the registry (insecure_registries, mirrors) or lists the range in egress_allow"};
  }
  const auto literal = LiteralHostAddress(registry.host);
  const AddressClass registry_kind = literal ? ClassifyAddress(*literal) : AddressClass::kPublic;
  if (registry_kind == kind) return {};
  return Error{ErrorCode::kInvalidArgument,
               "refusing to connect to " + HostAndPort(host, port) + " at " + address.String() + " (" +
                   std::string(AddressClassName(kind)) + "), where " + registry.host + " (at a " +
                   std::string(AddressClassName(registry_kind)) +
                   " address) sent a redirect or a token request; add the range to the config's egress_allow if "
                   "that is intended"};
}

std::vector<Endpoint> ProxiesOf(const std::vector<std::string>& environment) {
  std::vector<Endpoint> proxies;
  for (const std::string& setting : environment) {
    const size_t equals = setting.find('=');
    if (equals == std::string::npos) continue;
    std::string key = setting.substr(0, equals);
    Lowercase(key);
    if (key != "http_proxy" && key != "https_proxy" && key != "all_proxy") continue;
    std::string value = setting.substr(equals + 1);
    const bool https = value.rfind("https://", 0) == 0;
    if (size_t scheme = value.find("://"); scheme != std::string::npos) value.erase(0, scheme + 3);
    value = value.substr(0, value.find('/'));
    if (size_t at = value.rfind('@'); at != std::string::npos) value.erase(0, at + 1);
    if (Endpoint proxy = EndpointOf(value, {static_cast<uint16_t>(https ? 443 : 1080)}); !proxy.host.empty()) {
      proxies.push_back(std::move(proxy));
    }
  }
  return proxies;
}

NetworkGate::NetworkGate(EgressPolicy policy, ipc::Channel channel)
    : policy_(std::move(policy)), channel_(std::move(channel)) {}

Result<std::unique_ptr<NetworkGate>> NetworkGate::Open(EgressPolicy policy, UniqueFd& fetcher_end) {
  BANGER_ASSIGN_OR_RETURN(auto pair, ipc::Channel::CreatePair());
  fetcher_end = pair.second.ReleaseSocket();
  std::unique_ptr<NetworkGate> gate(new NetworkGate(std::move(policy), std::move(pair.first)));
  gate->channel_.set_peer_name("banger-fetcher (network)");
  gate->thread_ = std::thread([raw = gate.get()] { raw->Serve(); });
  return gate;
}

NetworkGate::~NetworkGate() {
  ::shutdown(channel_.fd(), SHUT_RDWR);  // ends the wait for the next request
  if (thread_.joinable()) thread_.join();
}

// One request at a time, each answered before the next is read; the first frame that
// is not a request ends the service, and the fetcher sees its end (it then fails its
// own pull).
void NetworkGate::Serve() {
  for (;;) {
    auto request = channel_.ReceiveExpecting(
        {ipc::MessageType::kNetResolve, ipc::MessageType::kNetConnect, ipc::MessageType::kNetPermit});
    if (!request) break;
    auto answer = Answer(*request);
    if (!(answer ? channel_.Send(*answer) : channel_.Send(ipc::MakeErrorMessage(answer.error())))) break;
  }
  ::shutdown(channel_.fd(), SHUT_RDWR);
}

Result<ipc::Message> NetworkGate::Answer(const ipc::Message& request) {
  if (request.type == ipc::MessageType::kNetResolve) {
    BANGER_ASSIGN_OR_RETURN(ipc::NetResolve asked, ipc::Decode<ipc::NetResolve>(request.body));
    Lowercase(asked.host);
    BANGER_ASSIGN_OR_RETURN(std::vector<IpAddress> addresses, Resolve(asked.host));
    ipc::NetAddresses answer;
    for (const IpAddress& address : addresses) answer.addresses.push_back(address.String());
    return ipc::Message::Make(ipc::MessageType::kNetAddresses, ipc::Encode(answer));
  }
  if (request.type == ipc::MessageType::kNetPermit) {
    // Through a proxy the proxy resolves names; a literal target is checked here.
    BANGER_ASSIGN_OR_RETURN(ipc::NetPermit asked, ipc::Decode<ipc::NetPermit>(request.body));
    Lowercase(asked.host);
    if (auto literal = LiteralHostAddress(asked.host)) {
      BANGER_TRY(policy_.CheckProxyTarget(asked.host, asked.port, *literal));
    }
    return ipc::Message::Make(ipc::MessageType::kNetAddresses, ipc::Encode(ipc::NetAddresses{}));
  }
  BANGER_ASSIGN_OR_RETURN(ipc::NetConnect asked, ipc::Decode<ipc::NetConnect>(request.body));
  Lowercase(asked.host);
  BANGER_ASSIGN_OR_RETURN(UniqueFd socket, Connect(asked));
  ipc::Message answer = ipc::Message::Make(ipc::MessageType::kNetConnected);
  answer.fds.push_back(std::move(socket));
  return answer;
}

Result<std::vector<IpAddress>> NetworkGate::Resolve(const std::string& host) {
  if (auto literal = LiteralHostAddress(host)) return std::vector<IpAddress>{*literal};
  if (auto known = resolved_.find(host); known != resolved_.end()) return known->second;
  if (!IsHostName(host)) return Error{ErrorCode::kInvalidArgument, "'" + TerminalSafe(host, 100) + "' is not a host name"};
  if (lookups_ >= kMaxLookups) {
    return Error{ErrorCode::kInvalidArgument, "refusing to look up " + host + ": this pull looked up " +
                                                  std::to_string(kMaxLookups) + " names already"};
  }
  ++lookups_;
  std::vector<IpAddress> addresses;
  {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0) {
      return Error{ErrorCode::kIo, "could not resolve host " + host + ": " + ::gai_strerror(rc)};
    }
    for (addrinfo* a = found; a != nullptr && addresses.size() < ipc::kMaxResolvedAddresses; a = a->ai_next) {
      auto address = IpAddressOf(a->ai_addr);
      if (address && std::find(addresses.begin(), addresses.end(), *address) == addresses.end()) {
        addresses.push_back(*address);
      }
    }
    ::freeaddrinfo(found);
  }
  if (addresses.empty()) return Error{ErrorCode::kIo, "could not resolve host " + host + ": no address"};
  resolved_[host] = addresses;
  return addresses;
}

Result<UniqueFd> NetworkGate::Connect(const ipc::NetConnect& request) {
  auto address = ParseIpAddress(request.address);
  if (!address || request.port == 0) {
    return Error{ErrorCode::kInvalidArgument, "asked to connect to an address that is not one"};
  }
  BANGER_ASSIGN_OR_RETURN(std::vector<IpAddress> addresses, Resolve(request.host));
  const std::string what = HostAndPort(request.host, request.port) + " at " + address->String();
  if (std::find(addresses.begin(), addresses.end(), *address) == addresses.end()) {
    return Error{ErrorCode::kInvalidArgument, "refusing to connect to " + what + ": not an address the name resolved to"};
  }
  BANGER_TRY(policy_.CheckConnection(request.host, request.port, *address));
  UniqueFd socket(::socket(address->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_TCP));
  if (!socket) return Error::FromErrno("socket for " + what);
  socklen_t length = 0;
  const sockaddr_storage to = SocketAddressOf(*address, static_cast<uint16_t>(request.port), length);
  BANGER_TRY(ConnectWithin(socket.get(), to, length, what));
  return socket;
}

}  // namespace banger::broker
