#include "broker/pull/fs_identity.h"

#include <algorithm>

#include "base/digest.h"
#include "base/sha256.h"

namespace banger::broker {
namespace {

std::array<uint8_t, 16> First16(const Sha256Bytes& md) {
  std::array<uint8_t, 16> out{};
  std::copy_n(md.begin(), out.size(), out.begin());
  return out;
}

}  // namespace

FsIdentity DeriveFsIdentity(const std::string& manifest_digest) {
  FsIdentity id;
  id.uuid = First16(Sha256Of("banger rootfs uuid\n" + manifest_digest));
  id.uuid[6] = static_cast<uint8_t>((id.uuid[6] & 0x0f) | 0x50);  // version 5 (name-based)
  id.uuid[8] = static_cast<uint8_t>((id.uuid[8] & 0x3f) | 0x80);  // RFC 4122 variant
  id.hash_seed = First16(Sha256Of("banger rootfs hash seed\n" + manifest_digest));
  return id;
}

std::string FormatUuid(const std::array<uint8_t, 16>& uuid) {
  const std::string hex = HexEncode(uuid.data(), uuid.size());
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
         hex.substr(20);
}

}  // namespace banger::broker
