// Content digests. Only sha256 is accepted, and its syntax is checked before a digest is
// used in any path or URL.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "base/result.h"

namespace banger {

inline constexpr std::string_view kSha256Prefix = "sha256:";

// "sha256:" followed by exactly 64 lowercase hex digits.
bool IsValidDigest(std::string_view digest);
// The same, as a named error ("invalid digest 'x' in <where>").
Result<void> CheckDigest(std::string_view digest, std::string_view where);
// The 64 hex digits of a valid digest.
std::string_view DigestHex(std::string_view digest);

// Lowercase hex of raw bytes.
std::string HexEncode(const void* bytes, size_t size);
// "sha256:" + hex of a 32-byte sha256.
std::string Sha256Digest(const std::array<unsigned char, 32>& md);

}  // namespace banger
