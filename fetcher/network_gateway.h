// The fetcher's side of the broker's network gate (broker/registry/network_gate.h): the
// fetcher has no network of its own, so every name is resolved and every connection
// made by the broker, which applies the egress rule and hands back a connected socket.
// One request at a time; download threads share it.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "base/address.h"
#include "base/fd.h"
#include "base/result.h"
#include "ipc/channel.h"

namespace banger::fetcher {

class NetworkGateway {
 public:
  explicit NetworkGateway(ipc::Channel channel) : channel_(std::move(channel)) {}

  // What `host` resolves to (asked once; the broker pins the answer for this fetcher).
  Result<std::vector<IpAddress>> Resolve(const std::string& host);
  // A TCP socket the broker connected to `address` (one of `host`'s) and `port`.
  Result<UniqueFd> Connect(const std::string& host, const IpAddress& address, uint16_t port);
  // Whether a proxy may be asked for `host`:`port`.
  Result<void> Permit(const std::string& host, uint16_t port);

 private:
  Result<ipc::Message> Ask(const ipc::Message& request, ipc::MessageType answer);

  std::mutex mutex_;
  ipc::Channel channel_;
  std::map<std::string, std::vector<IpAddress>> resolved_;
};

}  // namespace banger::fetcher
