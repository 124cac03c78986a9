// How big the filesystem is and how many inodes it gets: content x 1.5, at least 1 GiB,
// unless the user asked for a size, which must hold the content. What an image request's
// size means: the imager builds to it, and the broker bounds the imager's file by it.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"
#include "ipc/tree_stream.h"

namespace banger::ipc {

inline constexpr uint64_t kFloorBytes = 1ull << 30;
inline constexpr uint64_t kBlock = 4096;
// Where the image's data region starts (docs/architecture.md, "How a content byte
// travels"): past group 0's superblock, descriptors and reserved descriptors at any
// size ext4 takes (16 TiB needs 3073 blocks), so the unpacker can write file data there
// before the filesystem's size is known.
inline constexpr uint64_t kDataRegionStart = 16ull << 20;
inline constexpr uint64_t kMaxDataRegionBytes = 16ull << 40;  // ext4's 16 TiB of 4 KiB blocks
// Where a data region of `region_bytes` from `start` ends: its last block whole.
inline constexpr uint64_t DataRegionEnd(uint64_t start, uint64_t region_bytes) {
  return start + (region_bytes + kBlock - 1) / kBlock * kBlock;
}

struct FilesystemPlan {
  uint64_t content_bytes = 0;     // file data (holes excluded), link targets, xattrs, a block per directory
  uint64_t filesystem_bytes = 0;
  uint64_t inode_count = 0;
};

// `requested_bytes` 0 means "size it from the content". The filesystem also holds the
// data region whole ([kDataRegionStart, + region_bytes), what later layers replaced
// included) with room for the tables and journal after it.
Result<FilesystemPlan> PlanFilesystem(const TreeSummary& summary, uint64_t requested_bytes,
                                      uint64_t region_bytes = 0);

}  // namespace banger::ipc
