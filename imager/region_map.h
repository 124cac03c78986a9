// Files mapped where the unpacker put their data (docs/architecture.md, "How a content
// byte travels"): the image's data region holds each file's blocks at spool offsets
// that equal its file offsets modulo 4 KiB, so a file's blocks are used in place. The
// tree that says where comes from the unpacker, which may be compromised: a place
// outside the region, off its block, or claimed by another file is refused by name,
// since two inodes sharing a block is a corrupt filesystem.
#pragma once

#include <cstdint>
#include <vector>

#include "base/result.h"
#include "imager/block_run.h"
#include "ipc/tree_stream.h"

namespace banger::imager {

// The file's blocks as runs placed in the region [region_start, region_end) (byte
// offsets, block-aligned): physical = logical + (spool offset - file offset) / block.
// Extents that share a block must put it in the same place.
Result<std::vector<BlockRun>> RegionRuns(const ipc::TreeEntry& entry, uint64_t region_start, uint64_t region_end,
                                         uint32_t block_size);

// Which of the region's blocks a file has claimed.
class ClaimMap {
 public:
  // The region's blocks: [first_block, first_block + blocks).
  ClaimMap(uint64_t first_block, uint64_t blocks);
  // Claims `count` blocks from `block`; false, claiming none, when one is claimed already.
  bool Claim(uint64_t block, uint64_t count);
  // The region's unclaimed runs, as (first block, count), in order.
  std::vector<BlockRun> Unclaimed() const;

 private:
  uint64_t first_;
  std::vector<uint64_t> bits_;
  uint64_t blocks_;
};

}  // namespace banger::imager
