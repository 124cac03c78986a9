// The imager's messages (messages.h kImageBegin, kImageDone), one struct per body, with
// strict decoders like unpack_protocol.h's.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace banger::ipc {

inline constexpr size_t kMaxImageLayers = 1024;

// kImageBegin; fds: the image file (read-write), the spool and the tree stream (read-only).
struct ImageRequest {
  uint64_t size_bytes = 0;  // 0: content x 1.5, at least 1 GiB
  std::array<uint8_t, 16> uuid{};
  std::array<uint8_t, 16> hash_seed{};
  uint32_t timestamp = 0;  // what "now" is for everything the imager creates
  std::vector<std::string> layer_digests;  // to name a layer in errors; oldest first
  bool operator==(const ImageRequest&) const = default;
};

// kImageDone.
struct ImageSummary {
  uint64_t filesystem_bytes = 0;
  uint64_t content_bytes = 0;
  uint64_t inodes = 0;
  uint64_t entries = 0;
  uint64_t blocks_used = 0;
  bool operator==(const ImageSummary&) const = default;
};

std::string Encode(const ImageRequest& request);
Result<ImageRequest> DecodeImageRequest(std::string_view body);
std::string Encode(const ImageSummary& summary);
Result<ImageSummary> DecodeImageSummary(std::string_view body);

}  // namespace banger::ipc
