// A framed, fd-passing channel over one end of a SOCK_SEQPACKET socketpair.
// Every received frame is checked against messages.h before anyone looks at it.
#pragma once

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/fd.h"
#include "ipc/messages.h"
#include "base/result.h"

namespace banger::ipc {

struct Message {
  MessageType type = MessageType::kPing;
  std::string body;
  std::vector<UniqueFd> fds;

  static Message Make(MessageType type, std::string body = {});
  static Message WithJson(MessageType type, const nlohmann::json& body);
  // Parses the body as JSON with a nesting bound, so a hostile peer cannot exhaust the stack.
  Result<nlohmann::json> Json(int max_depth = 32) const;
};

struct ChannelLimits {
  size_t max_body = kMaxBodyBytes;
  size_t max_fds = kMaxFdsPerMessage;
};

class Channel {
 public:

  // Both ends are O_CLOEXEC; the spawner moves one end to a fixed fd in the child.
  static Result<std::pair<Channel, Channel>> CreatePair();

  Channel() = default;
  explicit Channel(UniqueFd socket, std::string peer_name = "peer", ChannelLimits limits = {});

  // Sends the message; its fds stay owned by the caller (the kernel duplicates them).
  Result<void> Send(const Message& message);
  // Sends unless the peer's queue is full, then false and nothing sent: for reports the
  // peer may read late, which must not hold the sender up.
  Result<bool> TrySend(const Message& message);
  // Waits up to timeout_ms (-1: forever) for one frame. Errors name the peer.
  Result<Message> Receive(int timeout_ms = -1);
  // Receive, then refuse any type not in `allowed` (the per-state table of OpenSSH's monitor).
  Result<Message> ReceiveExpecting(std::initializer_list<MessageType> allowed, int timeout_ms = -1);

  int fd() const { return socket_.get(); }
  bool valid() const { return socket_.valid(); }
  const std::string& peer_name() const { return peer_name_; }
  void set_peer_name(std::string name) { peer_name_ = std::move(name); }
  UniqueFd ReleaseSocket() { return std::move(socket_); }

 private:
  // false when `flags` has MSG_DONTWAIT and the queue is full.
  Result<bool> SendWith(const Message& message, int flags);

  UniqueFd socket_;
  std::string peer_name_ = "peer";
  ChannelLimits limits_;
};

// kError carries {"message": text, "code": ErrorCode}; these build and read it. A code
// a child may not claim (sandbox, child-failed) reads back as kChildFailed.
Message MakeErrorMessage(const Error& error);
Error ErrorFromMessage(const Message& error);

}  // namespace banger::ipc
