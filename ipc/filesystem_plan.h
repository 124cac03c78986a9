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

struct FilesystemPlan {
  uint64_t content_bytes = 0;     // file data (holes excluded), link targets, xattrs, a block per directory
  uint64_t filesystem_bytes = 0;
  uint64_t inode_count = 0;
};

// `requested_bytes` 0 means "size it from the content".
Result<FilesystemPlan> PlanFilesystem(const TreeSummary& summary, uint64_t requested_bytes);

}  // namespace banger::ipc
