#include "assets/agent/listener.h"

#include <arpa/inet.h>
#include <linux/vm_sockets.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace banger::agent {
namespace {

constexpr int kBacklog = 16;

std::optional<uint32_t> ParsePort(std::string_view text, uint32_t max) {
  uint32_t port = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty() || port > max) return std::nullopt;
  return port;
}

ListenResult Failure(std::string error, bool retry = false) {
  ListenResult result;
  result.error = std::move(error);
  result.retry = retry;
  return result;
}

ListenResult BindAndListen(UniqueFd fd, const sockaddr* addr, socklen_t length, bool vsock) {
  if (::bind(fd.get(), addr, length) != 0) {
    const int err = errno;
    // No transport or device yet: the address cannot be assigned until it appears.
    return Failure("bind: " + ErrnoText(err), vsock && (err == EADDRNOTAVAIL || err == ENODEV));
  }
  if (::listen(fd.get(), kBacklog) != 0) return Failure("listen: " + ErrnoText(errno));
  ListenResult result;
  result.fd = std::move(fd);
  return result;
}

}  // namespace

std::optional<ListenAddress> ParseListenAddress(std::string_view text, std::string* error) {
  ListenAddress address;
  if (text.starts_with("vsock:")) {
    const auto port = ParsePort(text.substr(6), UINT32_MAX - 1);  // VMADDR_PORT_ANY is not a port
    if (!port) {
      *error = "--listen: bad vsock port in '" + std::string(text) + "'";
      return std::nullopt;
    }
    address.port = *port;
    return address;
  }
  if (text.starts_with("unix:")) {
    address.kind = ListenAddress::Kind::kUnix;
    address.path = std::string(text.substr(5));
    if (address.path.empty() || address.path.size() >= sizeof(sockaddr_un::sun_path)) {
      *error = "--listen: unix socket path empty or longer than " +
               std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes";
      return std::nullopt;
    }
    return address;
  }
  if (text.starts_with("tcp:")) {
    address.kind = ListenAddress::Kind::kTcp;
    const std::string_view rest = text.substr(4);
    const size_t colon = rest.rfind(':');
    const std::string ip(rest.substr(0, colon == std::string_view::npos ? 0 : colon));
    const auto port = colon == std::string_view::npos ? std::nullopt : ParsePort(rest.substr(colon + 1), 65535);
    if (!port || ::inet_pton(AF_INET, ip.c_str(), &address.ip) != 1) {
      *error = "--listen: expected tcp:IPV4:PORT, got '" + std::string(text) + "'";
      return std::nullopt;
    }
    address.port = *port;
    return address;
  }
  *error = "--listen: expected vsock:PORT, unix:PATH or tcp:IPV4:PORT, got '" + std::string(text) + "'";
  return std::nullopt;
}

std::string DescribeListener(const ListenAddress& address, int fd) {
  switch (address.kind) {
    case ListenAddress::Kind::kVsock:
      return "vsock:" + std::to_string(address.port);
    case ListenAddress::Kind::kUnix:
      return "unix:" + address.path;
    case ListenAddress::Kind::kTcp: {
      sockaddr_in bound{};
      socklen_t length = sizeof bound;
      uint32_t port = address.port;
      if (fd >= 0 && ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length) == 0) port = ntohs(bound.sin_port);
      char ip[INET_ADDRSTRLEN] = "?";
      ::inet_ntop(AF_INET, &address.ip, ip, sizeof ip);
      return std::string("tcp:") + ip + ":" + std::to_string(port);
    }
  }
  return "?";
}

ListenResult OpenListener(const ListenAddress& address) {
  constexpr int kType = SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC;
  switch (address.kind) {
    case ListenAddress::Kind::kVsock: {
      UniqueFd fd(::socket(AF_VSOCK, kType, 0));
      if (!fd.valid()) {
        const int err = errno;
        // The address family (vsock module) or the device is not there yet.
        return Failure("socket(AF_VSOCK): " + ErrnoText(err), err == EAFNOSUPPORT || err == ENODEV);
      }
      sockaddr_vm addr{};
      addr.svm_family = AF_VSOCK;
      addr.svm_cid = VMADDR_CID_ANY;
      addr.svm_port = address.port;
      return BindAndListen(std::move(fd), reinterpret_cast<const sockaddr*>(&addr), sizeof addr, true);
    }
    case ListenAddress::Kind::kUnix: {
      struct stat st {};
      if (::lstat(address.path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) return Failure(address.path + " exists and is not a socket");
        if (::unlink(address.path.c_str()) != 0) return Failure("removing the stale socket " + address.path + ": " + ErrnoText(errno));
      }
      UniqueFd fd(::socket(AF_UNIX, kType, 0));
      if (!fd.valid()) return Failure("socket(AF_UNIX): " + ErrnoText(errno));
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::memcpy(addr.sun_path, address.path.data(), address.path.size());
      return BindAndListen(std::move(fd), reinterpret_cast<const sockaddr*>(&addr), sizeof addr, false);
    }
    case ListenAddress::Kind::kTcp: {
      UniqueFd fd(::socket(AF_INET, kType, 0));
      if (!fd.valid()) return Failure("socket(AF_INET): " + ErrnoText(errno));
      const int one = 1;
      ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr = address.ip;
      addr.sin_port = htons(static_cast<uint16_t>(address.port));
      return BindAndListen(std::move(fd), reinterpret_cast<const sockaddr*>(&addr), sizeof addr, false);
    }
  }
  return Failure("unknown address kind");
}

}  // namespace banger::agent
