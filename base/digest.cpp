#include "base/digest.h"

namespace banger {

bool IsValidDigest(std::string_view digest) {
  if (digest.size() != kSha256Prefix.size() + 64 || digest.substr(0, kSha256Prefix.size()) != kSha256Prefix) {
    return false;
  }
  for (char c : digest.substr(kSha256Prefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Result<void> CheckDigest(std::string_view digest, std::string_view where) {
  if (IsValidDigest(digest)) return {};
  std::string shown(digest.substr(0, 100));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return Error{ErrorCode::kMalformed,
               "invalid digest '" + shown + "' in " + std::string(where) + " (want sha256: and 64 lowercase hex digits)"};
}

std::string_view DigestHex(std::string_view digest) { return digest.substr(kSha256Prefix.size()); }

std::string HexEncode(const void* bytes, size_t size) {
  static const char* kHex = "0123456789abcdef";
  const auto* p = static_cast<const unsigned char*>(bytes);
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    out += kHex[p[i] >> 4];
    out += kHex[p[i] & 15];
  }
  return out;
}

std::string Sha256Digest(const std::array<unsigned char, 32>& md) {
  return std::string(kSha256Prefix) + HexEncode(md.data(), md.size());
}

}  // namespace banger
