#include "broker/fs_identity.h"

#include "broker/blob_cache.h"
#include "ipc/digest.h"

namespace banger::broker {

FsIdentity DeriveFsIdentity(const std::string& manifest_digest) {
  FsIdentity id;
  unsigned char md[32];
  Sha256OfBytes("banger rootfs uuid\n" + manifest_digest, md);
  md[6] = static_cast<unsigned char>((md[6] & 0x0f) | 0x50);  // version 5 (name-based)
  md[8] = static_cast<unsigned char>((md[8] & 0x3f) | 0x80);  // RFC 4122 variant
  id.uuid_hex = HexEncode(md, 16);
  Sha256OfBytes("banger rootfs hash seed\n" + manifest_digest, md);
  id.hash_seed_hex = HexEncode(md, 16);
  return id;
}

std::string FormatUuid(const std::string& hex) {
  if (hex.size() != 32) return hex;
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
         hex.substr(20);
}

}  // namespace banger::broker
