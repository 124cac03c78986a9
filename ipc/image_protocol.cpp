#include "ipc/image_protocol.h"

#include <nlohmann/json.hpp>

#include "base/digest.h"
#include "base/json.h"
#include "ipc/fields.h"

namespace banger::ipc {
namespace {

using nlohmann::json;

// 32 lowercase hex digits into 16 bytes; false for anything else.
bool FromHex16(const std::string& hex, std::array<uint8_t, 16>& out) {
  if (hex.size() != 32) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::array<uint8_t, 16> bytes{};
  for (size_t i = 0; i < 16; ++i) {
    const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    bytes[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  out = bytes;
  return true;
}

void ReadHex16(FieldReader& fields, const char* key, std::array<uint8_t, 16>& out) {
  std::string hex;
  fields.String(key, hex, 32);
  if (fields.ok() && !FromHex16(hex, out)) fields.Fail(std::string("'") + key + "' is not 32 lowercase hex digits");
}

}  // namespace

std::string Encode(const ImageRequest& r) {
  return DumpJson({{"size_bytes", r.size_bytes},
                   {"uuid", HexEncode(r.uuid.data(), r.uuid.size())},
                   {"hash_seed", HexEncode(r.hash_seed.data(), r.hash_seed.size())},
                   {"timestamp", r.timestamp},
                   {"layers", r.layer_digests}});
}

Result<ImageRequest> DecodeImageRequest(std::string_view body) {
  BANGER_ASSIGN_OR_RETURN(json j, ParseObject(body, "image-begin"));
  ImageRequest r;
  FieldReader fields(j, "image-begin");
  fields.Uint("size_bytes", r.size_bytes).Uint32("timestamp", r.timestamp);
  ReadHex16(fields, "uuid", r.uuid);
  ReadHex16(fields, "hash_seed", r.hash_seed);
  fields.Strings("layers", r.layer_digests, kMaxImageLayers, 100);
  for (const std::string& digest : r.layer_digests) {
    if (fields.ok() && !IsValidDigest(digest)) fields.Fail("'layers' holds something other than sha256 digests");
  }
  return fields.Done(std::move(r));
}

std::string Encode(const ImageSummary& s) {
  return DumpJson({{"filesystem_bytes", s.filesystem_bytes},
                   {"content_bytes", s.content_bytes},
                   {"inodes", s.inodes},
                   {"entries", s.entries},
                   {"blocks_used", s.blocks_used}});
}

Result<ImageSummary> DecodeImageSummary(std::string_view body) {
  BANGER_ASSIGN_OR_RETURN(json j, ParseObject(body, "image-done"));
  ImageSummary s;
  FieldReader fields(j, "image-done");
  fields.Uint("filesystem_bytes", s.filesystem_bytes)
      .Uint("content_bytes", s.content_bytes)
      .Uint("inodes", s.inodes)
      .Uint("entries", s.entries)
      .Uint("blocks_used", s.blocks_used);
  return fields.Done(s);
}

}  // namespace banger::ipc
