// A run of a file's blocks, as the imager places it (file_inode.h, ext4_writer.h).
#pragma once

#include <cstdint>

namespace banger::imager {

// Its first logical block, where it is placed, how many blocks.
struct BlockRun {
  uint64_t logical = 0;
  uint64_t physical = 0;
  uint64_t count = 0;
};

}  // namespace banger::imager
