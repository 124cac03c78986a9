#include "ipc/channel.h"

#include <poll.h>
#include <sys/socket.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "base/json.h"
#include "base/text.h"
#include "ipc/frame.h"

namespace banger::ipc {
Message Message::Make(MessageType type, std::string body) {
  Message m;
  m.type = type;
  m.body = std::move(body);
  return m;
}

Message Message::WithJson(MessageType type, const nlohmann::json& body) {
  return Make(type, DumpJson(body));
}

Result<nlohmann::json> Message::Json(int max_depth) const {
  auto parsed = ParseJsonBounded(body, max_depth);
  if (!parsed) return parsed.error().Wrap(std::string("message '") + MessageTypeName(type) + "'");
  return parsed;
}

Message MakeErrorMessage(const Error& error) {
  return Message::WithJson(MessageType::kError,
                           {{"message", TerminalSafe(error.message, 4096)}, {"code", static_cast<int>(error.code)}});
}

Error ErrorFromMessage(const Message& error) {
  auto body = error.Json();
  if (!body || !body->is_object() || !body->contains("message") || !(*body)["message"].is_string()) {
    return Error{ErrorCode::kChildFailed, "(unreadable error message)"};
  }
  // A helper's words: escaped, and cut on a character boundary.
  Error out{ErrorCode::kChildFailed, TerminalSafe((*body)["message"].get_ref<const std::string&>(), 1000)};
  if (body->contains("code") && (*body)["code"].is_number_integer()) {
    switch (auto code = static_cast<ErrorCode>((*body)["code"].get<int>())) {
      case ErrorCode::kIo: case ErrorCode::kTruncated: case ErrorCode::kOversized: case ErrorCode::kMalformed:
      case ErrorCode::kTimeout: case ErrorCode::kInvalidArgument: case ErrorCode::kNotFound:
      case ErrorCode::kUnexpected: case ErrorCode::kNoSpace:
        out.code = code;
        break;
      default:
        break;
    }
  }
  return out;
}

Result<std::pair<Channel, Channel>> Channel::CreatePair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
    return Error::FromErrno("socketpair(SOCK_SEQPACKET)");
  }
  return std::make_pair(Channel(UniqueFd(fds[0])), Channel(UniqueFd(fds[1])));
}

Channel::Channel(UniqueFd socket, std::string peer_name, ChannelLimits limits)
    : socket_(std::move(socket)), peer_name_(std::move(peer_name)), limits_(limits) {}

Result<void> Channel::Send(const Message& message) {
  BANGER_TRY(SendWith(message, 0));
  return {};
}

Result<bool> Channel::TrySend(const Message& message) { return SendWith(message, MSG_DONTWAIT); }

Result<bool> Channel::SendWith(const Message& message, int flags) {
  const MessageSpec* spec = FindMessageSpec(static_cast<uint32_t>(message.type));
  if (spec == nullptr) {
    return Error{ErrorCode::kUnknownType,
                 "refusing to send undeclared message type " + std::to_string(static_cast<uint32_t>(message.type))};
  }
  BANGER_TRY(CheckFdCount(*spec, message.fds.size()));
  if (message.body.size() > limits_.max_body) {
    return Error{ErrorCode::kOversized, std::string("message '") + spec->name + "' body of " +
                                            std::to_string(message.body.size()) + " bytes exceeds the limit of " +
                                            std::to_string(limits_.max_body)};
  }
  std::string frame = EncodeFrame(message.type, message.body);
  iovec iov{frame.data(), frame.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control;
  if (!message.fds.empty()) {
    control.resize(CMSG_SPACE(sizeof(int) * message.fds.size()));
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * message.fds.size());
    int* out = reinterpret_cast<int*>(CMSG_DATA(cmsg));
    for (size_t i = 0; i < message.fds.size(); ++i) out[i] = message.fds[i].get();
  }
  for (;;) {
    ssize_t n = ::sendmsg(socket_.get(), &msg, MSG_NOSIGNAL | flags);
    if (n >= 0) return true;
    if (errno == EINTR) continue;
    if ((flags & MSG_DONTWAIT) != 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
    if (errno == EPIPE || errno == ECONNRESET) {
      return Error{ErrorCode::kPeerClosed, peer_name_ + " hung up"};
    }
    return Error::FromErrno("sending '" + std::string(spec->name) + "' to " + peer_name_);
  }
}

Result<Message> Channel::Receive(int timeout_ms) {
  if (timeout_ms >= 0) {
    pollfd pfd{socket_.get(), POLLIN, 0};
    int ready;
    do {
      ready = ::poll(&pfd, 1, timeout_ms);
    } while (ready < 0 && errno == EINTR);
    if (ready < 0) return Error::FromErrno("waiting for " + peer_name_);
    if (ready == 0) {
      return Error{ErrorCode::kTimeout, peer_name_ + " sent nothing for " + std::to_string(timeout_ms) + " ms"};
    }
  }
  // One byte more than the largest legal frame, so an oversized datagram shows as MSG_TRUNC.
  std::vector<uint8_t> buffer(kFrameHeaderBytes + limits_.max_body + 1);
  iovec iov{buffer.data(), buffer.size()};
  std::vector<char> control(CMSG_SPACE(sizeof(int) * limits_.max_fds));
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t n;
  do {
    n = ::recvmsg(socket_.get(), &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == ECONNRESET) return Error{ErrorCode::kPeerClosed, peer_name_ + " hung up"};
    return Error::FromErrno("receiving from " + peer_name_);
  }

  // Take ownership of every descriptor first, so each error path below closes them.
  std::vector<UniqueFd> fds;
  bool foreign_control = false;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      const int* in = reinterpret_cast<const int*>(CMSG_DATA(c));
      for (size_t i = 0; i < count; ++i) fds.emplace_back(in[i]);
    } else {
      foreign_control = true;
    }
  }
  if (n == 0 && fds.empty()) return Error{ErrorCode::kPeerClosed, peer_name_ + " hung up"};
  if (msg.msg_flags & MSG_CTRUNC) {
    return Error{ErrorCode::kTooManyFds,
                 peer_name_ + " sent more than " + std::to_string(limits_.max_fds) + " fds in one message"};
  }
  if (msg.msg_flags & MSG_TRUNC) {
    return Error{ErrorCode::kOversized, peer_name_ + " sent a frame larger than " +
                                            std::to_string(kFrameHeaderBytes + limits_.max_body) + " bytes"};
  }
  if (foreign_control) {
    return Error{ErrorCode::kMalformed, peer_name_ + " sent control data other than SCM_RIGHTS"};
  }
  auto frame = DecodeFrame(std::span<const uint8_t>(buffer.data(), static_cast<size_t>(n)), limits_.max_body);
  if (!frame) return frame.error().Wrap("from " + peer_name_);
  if (auto fd_check = CheckFdCount(*frame->spec, fds.size()); !fd_check) {
    return fd_check.error().Wrap("from " + peer_name_);
  }
  Message message;
  message.type = frame->spec->type;
  message.body.assign(frame->body);
  message.fds = std::move(fds);
  return message;
}

Result<Message> Channel::ReceiveExpecting(std::initializer_list<MessageType> allowed, int timeout_ms) {
  BANGER_ASSIGN_OR_RETURN(Message message, Receive(timeout_ms));
  for (MessageType type : allowed) {
    if (message.type == type) return message;
  }
  if (message.type == MessageType::kError) return ErrorFromMessage(message);
  std::string expected;
  for (MessageType type : allowed) expected += (expected.empty() ? "" : " or ") + std::string(MessageTypeName(type));
  return Error{ErrorCode::kUnexpected, peer_name_ + " sent '" + MessageTypeName(message.type) + "' where " +
                                           expected + " was expected"};
}

}  // namespace banger::ipc
