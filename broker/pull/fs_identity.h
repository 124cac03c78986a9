// A rootfs is reproducible: the same image (manifest digest) and banger version give a
// byte-identical rootfs.ext4. Its UUID and directory hash seed are derived from the
// manifest digest, and everything banger stamps uses one fixed time.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace banger::broker {

// 2024-01-01T00:00:00Z: what "now" is for every inode and superblock field banger creates.
inline constexpr uint32_t kFilesystemTimestamp = 1704067200;

struct FsIdentity {
  std::array<uint8_t, 16> uuid{};       // RFC 4122 version 5 layout
  std::array<uint8_t, 16> hash_seed{};
  uint32_t timestamp = kFilesystemTimestamp;
};

FsIdentity DeriveFsIdentity(const std::string& manifest_digest);

// "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx".
std::string FormatUuid(const std::array<uint8_t, 16>& uuid);

}  // namespace banger::broker
