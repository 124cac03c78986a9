// A regular file's inode built whole in memory (docs/imager.md, "One write per file"):
// owner, mode, times, size, and its blocks as extents in the inode's own i_block, so it
// reaches the inode table in one write. libext2fs's way (an empty inode written, then
// fallocate, then the attributes) reads and writes the inode six times, and each time
// checksums it; on 200 000 small files that was a fifth of the imager's time.
#pragma once

#include <cstdint>
#include <vector>

#include <ext2fs/ext2fs.h>

#include "base/result.h"
#include "imager/block_run.h"
#include "ipc/tree_stream.h"

namespace banger::imager {

// Extents the inode itself holds (a depth-0 tree in i_block), and the most blocks one
// initialized extent covers.
inline constexpr size_t kInodeExtents = 4;
inline constexpr uint64_t kMaxExtentBlocks = 32768;

// Extents `runs` take, each at most kMaxExtentBlocks long.
size_t ExtentsFor(const std::vector<BlockRun>& runs);

// Mode bits, owner, times (crtime is the mtime) from the record; the type bits stay.
void FillAttributes(ext2_inode_large& inode, const ipc::TreeEntry& entry);

// Writes `runs` (placed, ExtentsFor(runs) <= kInodeExtents) as the extent root in
// i_block and sets EXT4_EXTENTS_FL.
void SetInodeExtents(ext2_inode_large& inode, const std::vector<BlockRun>& runs);

}  // namespace banger::imager
