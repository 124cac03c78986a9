#include "fetcher/network_gateway.h"

#include "ipc/net_protocol.h"

namespace banger::fetcher {

Result<ipc::Message> NetworkGateway::Ask(const ipc::Message& request, ipc::MessageType answer) {
  BANGER_TRY(channel_.Send(request));
  BANGER_ASSIGN_OR_RETURN(ipc::Message reply, channel_.ReceiveExpecting({answer, ipc::MessageType::kError}));
  if (reply.type == ipc::MessageType::kError) return ipc::ErrorFromMessage(reply);
  return reply;
}

Result<std::vector<IpAddress>> NetworkGateway::Resolve(const std::string& host) {
  std::lock_guard lock(mutex_);
  if (auto known = resolved_.find(host); known != resolved_.end()) return known->second;
  BANGER_ASSIGN_OR_RETURN(ipc::Message reply,
                          Ask(ipc::Message::Make(ipc::MessageType::kNetResolve, ipc::Encode(ipc::NetResolve{host})),
                              ipc::MessageType::kNetAddresses));
  BANGER_ASSIGN_OR_RETURN(ipc::NetAddresses answer, ipc::Decode<ipc::NetAddresses>(reply.body));
  std::vector<IpAddress> addresses;
  for (const std::string& text : answer.addresses) {
    auto address = ParseIpAddress(text);
    if (!address) return Error{ErrorCode::kMalformed, "the broker resolved " + host + " to something not an address"};
    addresses.push_back(*address);
  }
  resolved_[host] = addresses;
  return addresses;
}

Result<UniqueFd> NetworkGateway::Connect(const std::string& host, const IpAddress& address, uint16_t port) {
  std::lock_guard lock(mutex_);
  const ipc::NetConnect request{host, address.String(), port};
  BANGER_ASSIGN_OR_RETURN(
      ipc::Message reply,
      Ask(ipc::Message::Make(ipc::MessageType::kNetConnect, ipc::Encode(request)), ipc::MessageType::kNetConnected));
  if (reply.fds.size() != 1) return Error{ErrorCode::kMalformed, "the broker's connected socket is missing"};
  return std::move(reply.fds.front());
}

Result<void> NetworkGateway::Permit(const std::string& host, uint16_t port) {
  std::lock_guard lock(mutex_);
  BANGER_TRY(Ask(ipc::Message::Make(ipc::MessageType::kNetPermit, ipc::Encode(ipc::NetPermit{host, port})),
                 ipc::MessageType::kNetAddresses));
  return {};
}

}  // namespace banger::fetcher
