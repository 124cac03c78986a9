// The imager's messages (messages.h kImageBegin, kImageDone), one struct per body, each
// listing its fields once (fields.h): strict decoding like unpack_protocol.h's.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "ipc/filesystem_plan.h"
#include "ipc/fields.h"

namespace banger::ipc {

inline constexpr size_t kMaxImageLayers = 1024;

// kImageBegin; fds: the image file (read-write), its file data already in the data region,
// and the tree stream (read-only).
struct ImageRequest {
  static constexpr const char* kName = "image-begin";
  uint64_t size_bytes = 0;  // 0: content x 1.5, at least 1 GiB
  std::array<uint8_t, 16> uuid{};
  std::array<uint8_t, 16> hash_seed{};
  uint32_t timestamp = 0;  // what "now" is for everything the imager creates
  std::vector<std::string> layer_digests;  // to name a layer in errors; oldest first
  // The data region (filesystem_plan.h): its bytes from kDataRegionStart on, in the image
  // already (the unpacker wrote them, or the broker copied them from a cached image).
  uint64_t region_bytes = 0;
  bool operator==(const ImageRequest&) const = default;
  template <class Self, class V>
  static void Fields(Self& s, V& v) {
    v.Uint("size_bytes", s.size_bytes).Hex16("uuid", s.uuid).Hex16("hash_seed", s.hash_seed);
    v.Uint32("timestamp", s.timestamp).Digests("layers", s.layer_digests, kMaxImageLayers);
    v.Uint("region_bytes", s.region_bytes, kMaxDataRegionBytes);
  }
};

// kImageDone.
struct ImageSummary {
  static constexpr const char* kName = "image-done";
  uint64_t filesystem_bytes = 0;
  uint64_t content_bytes = 0;
  uint64_t inodes = 0;
  uint64_t entries = 0;
  uint64_t blocks_used = 0;
  bool operator==(const ImageSummary&) const = default;
  template <class Self, class V>
  static void Fields(Self& s, V& v) {
    v.Uint("filesystem_bytes", s.filesystem_bytes).Uint("content_bytes", s.content_bytes).Uint("inodes", s.inodes);
    v.Uint("entries", s.entries).Uint("blocks_used", s.blocks_used);
  }
};

}  // namespace banger::ipc
