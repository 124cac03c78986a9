// What one ext4 inode can hold, as banger's imager writes it (4 KiB blocks, 256-byte
// inodes, extents, huge_file, dir_nlink, no ea_inode). The unpacker refuses or clamps
// what falls outside, naming the layer and the path; the tree stream's reader refuses
// it again, so no value reaches libext2fs that would land as a different one
// (docs/unpacker.md, "What ext4 can hold").
#pragma once

#include <cstdint>

#include "ipc/tree_stream.h"

namespace banger::ipc::ext4 {

// 2^32 - 1 blocks of 4 KiB: the largest extent-mapped file (the kernel's s_maxbytes).
inline constexpr uint64_t kMaxFileSize = 0xffffffffull * 4096;
// A 256-byte inode keeps 32 signed bits of seconds and two epoch bits: the kernel's
// s_time_min and s_time_max (1901-12-13T20:45:52Z .. 2446-05-10T22:38:55Z).
inline constexpr int64_t kMinTime = -(int64_t{1} << 31);
inline constexpr int64_t kMaxTime = (int64_t{1} << 34) - 1 - (int64_t{1} << 31);
// e2fsck (1.42 to at least 1.47) takes times in [2310-04-04, 2378-04-22) for pre-1970
// ones written by an old kernel, and `e2fsck -p` rewrites them; the kernel stores and
// reads them exactly.
inline constexpr int64_t kFsckNegativeEpochFrom = 3 * (int64_t{1} << 32) - (int64_t{1} << 31);
inline constexpr int64_t kFsckNegativeEpochTo = 3 * (int64_t{1} << 32);
// dev_t: 12 bits of major, 20 of minor; ext4's new encoding holds exactly these.
inline constexpr uint32_t kMaxDeviceMajor = (1u << 12) - 1;
inline constexpr uint32_t kMaxDeviceMinor = (1u << 20) - 1;
// (uid_t)-1 is no id at all to the kernel (chown's "leave it"; stat shows the overflow id).
inline constexpr uint32_t kInvalidId = 0xffffffffu;
// EXT4_LINK_MAX: link() fails with EMLINK past it.
inline constexpr uint32_t kMaxLinks = 65000;
inline constexpr uint64_t kMaxNameBytes = 255;
// A symlink target and its NUL fit one block.
inline constexpr uint64_t kMaxSymlinkBytes = 4095;

// The kernel's timestamp_truncate(): clamped into [kMinTime, kMaxTime], with the
// nanoseconds dropped at either edge.
inline Timestamp ClampTime(Timestamp t) {
  if (t.sec <= kMinTime) return {kMinTime, 0};
  if (t.sec >= kMaxTime) return {kMaxTime, 0};
  return t;
}
inline bool TimeFits(const Timestamp& t) { return ClampTime(t) == t; }
inline bool FsckMisreadsTime(const Timestamp& t) {
  return t.sec >= kFsckNegativeEpochFrom && t.sec < kFsckNegativeEpochTo;
}

}  // namespace banger::ipc::ext4
