// Where the agent listens: vsock:PORT (the guest default), unix:PATH or tcp:IPV4:PORT
// (tests and debugging).
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "assets/agent/common.h"

namespace banger::agent {

// The documented health port (docs/guest.md); the host connects to guest CID:10789.
inline constexpr uint32_t kDefaultVsockPort = 10789;

struct ListenAddress {
  enum class Kind { kVsock, kUnix, kTcp };
  Kind kind = Kind::kVsock;
  uint32_t port = kDefaultVsockPort;  // vsock and tcp
  std::string path;                   // unix
  in_addr ip{};                       // tcp
};

// Parses "vsock:PORT", "unix:PATH" or "tcp:IPV4:PORT"; nullopt with `*error` set otherwise.
std::optional<ListenAddress> ParseListenAddress(std::string_view text, std::string* error);

// How the address reads once bound (a tcp port 0 shows the port the kernel chose).
std::string DescribeListener(const ListenAddress& address, int fd);

struct ListenResult {
  UniqueFd fd;         // valid on success
  bool retry = false;  // failed only because vsock is not there yet
  std::string error;
};

// A non-blocking, close-on-exec listening socket. A stale unix socket at PATH is replaced;
// any other file there is an error.
ListenResult OpenListener(const ListenAddress& address);

}  // namespace banger::agent
