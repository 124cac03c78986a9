// The wire format of one message: a fixed little-endian header {u32 type, u32 body
// length} followed by the body, all in one SOCK_SEQPACKET datagram. Pure functions,
// so the decoder can be fuzzed without sockets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "ipc/messages.h"
#include "base/result.h"

namespace banger::ipc {

inline constexpr size_t kFrameHeaderBytes = 8;

struct DecodedFrame {
  const MessageSpec* spec;
  std::string_view body;  // points into the decoded datagram
};

std::string EncodeFrame(MessageType type, std::string_view body);

// Refuses short headers, lengths that disagree with the datagram, bodies over
// max_body and types missing from messages.h, each with a named error.
Result<DecodedFrame> DecodeFrame(std::span<const uint8_t> datagram, size_t max_body = kMaxBodyBytes);

// Whether `count` descriptors may travel with a message of this spec.
Result<void> CheckFdCount(const MessageSpec& spec, size_t count);

}  // namespace banger::ipc
