#include "broker/fs_identity.h"

#include "base/digest.h"
#include "base/sha256.h"

namespace banger::broker {

FsIdentity DeriveFsIdentity(const std::string& manifest_digest) {
  FsIdentity id;
  Sha256Bytes md = Sha256Of("banger rootfs uuid\n" + manifest_digest);
  md[6] = static_cast<unsigned char>((md[6] & 0x0f) | 0x50);  // version 5 (name-based)
  md[8] = static_cast<unsigned char>((md[8] & 0x3f) | 0x80);  // RFC 4122 variant
  id.uuid_hex = HexEncode(md.data(), 16);
  md = Sha256Of("banger rootfs hash seed\n" + manifest_digest);
  id.hash_seed_hex = HexEncode(md.data(), 16);
  return id;
}

std::string FormatUuid(const std::string& hex) {
  if (hex.size() != 32) return hex;
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
         hex.substr(20);
}

}  // namespace banger::broker
