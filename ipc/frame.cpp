#include "ipc/frame.h"

namespace banger::ipc {
namespace {

void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t GetU32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

}  // namespace

std::string EncodeFrame(MessageType type, std::string_view body) {
  std::string out;
  out.reserve(kFrameHeaderBytes + body.size());
  PutU32(out, static_cast<uint32_t>(type));
  PutU32(out, static_cast<uint32_t>(body.size()));
  out.append(body);
  return out;
}

Result<DecodedFrame> DecodeFrame(std::span<const uint8_t> datagram, size_t max_body) {
  if (datagram.size() < kFrameHeaderBytes) {
    return Error{ErrorCode::kTruncated, "truncated frame: " + std::to_string(datagram.size()) +
                                            " bytes, a header needs " + std::to_string(kFrameHeaderBytes)};
  }
  const uint32_t raw_type = GetU32(datagram.data());
  const uint32_t declared = GetU32(datagram.data() + 4);
  const size_t held = datagram.size() - kFrameHeaderBytes;
  if (declared > max_body) {
    return Error{ErrorCode::kOversized, "oversized frame: " + std::to_string(declared) +
                                            " body bytes, the limit is " + std::to_string(max_body)};
  }
  if (held < declared) {
    return Error{ErrorCode::kTruncated, "truncated frame: header declares " + std::to_string(declared) +
                                            " body bytes, datagram holds " + std::to_string(held)};
  }
  if (held > declared) {
    return Error{ErrorCode::kMalformed, "malformed frame: " + std::to_string(held - declared) +
                                            " stray bytes after a " + std::to_string(declared) + "-byte body"};
  }
  const MessageSpec* spec = FindMessageSpec(raw_type);
  if (spec == nullptr) {
    return Error{ErrorCode::kUnknownType, "unknown message type " + std::to_string(raw_type)};
  }
  std::string_view body(reinterpret_cast<const char*>(datagram.data()) + kFrameHeaderBytes, declared);
  return DecodedFrame{spec, body};
}

Result<void> CheckFdCount(const MessageSpec& spec, size_t count) {
  if (count > spec.max_fds) {
    return Error{ErrorCode::kTooManyFds, std::string("message '") + spec.name + "' carries " +
                                             std::to_string(count) + " fds, at most " +
                                             std::to_string(spec.max_fds) + " allowed"};
  }
  if (count < spec.min_fds) {
    return Error{ErrorCode::kMalformed, std::string("message '") + spec.name + "' carries " +
                                            std::to_string(count) + " fds, needs " +
                                            std::to_string(spec.min_fds)};
  }
  return {};
}

}  // namespace banger::ipc
