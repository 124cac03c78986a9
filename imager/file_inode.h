// A regular file's inode built whole in memory (docs/imager.md, "One write per file"):
// owner, mode, times, size, and its blocks as extents in the inode's own i_block, so it
// reaches the inode table in one write. libext2fs's way (an empty inode written, then
// fallocate, then the attributes) reads and writes the inode six times, and each time
// checksums it; on 200 000 small files that was a fifth of the imager's time.
#pragma once

#include <cstdint>
#include <optional>
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

// The runs of whole blocks that hold `entry`'s data (its extents, merged where they
// touch): holes between them stay holes.
std::vector<BlockRun> DataRuns(const ipc::TreeEntry& entry, uint32_t block_size);

// Extents `runs` take, each at most kMaxExtentBlocks long.
size_t ExtentsFor(const std::vector<BlockRun>& runs);

// The first block of a free run of `count` blocks at or after `goal`, else before it;
// nullopt when there is none. Two bounded passes over the block bitmap
// (ext2fs_new_range with EXT2_NEWRANGE_MIN_LENGTH never ends when no run is free and the
// filesystem's last block is in use, as of e2fsprogs 1.47).
Result<std::optional<uint64_t>> FindFreeRun(ext2_filsys fs, uint64_t goal, uint64_t count);

// Mode bits, owner, times (crtime is the mtime) from the record; the type bits stay.
void FillAttributes(ext2_inode_large& inode, const ipc::TreeEntry& entry);

// Writes `runs` (placed, ExtentsFor(runs) <= kInodeExtents) as the extent root in
// i_block and sets EXT4_EXTENTS_FL.
void SetInodeExtents(ext2_inode_large& inode, const std::vector<BlockRun>& runs);

}  // namespace banger::imager
