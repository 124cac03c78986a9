#include "imager/region_map.h"

#include <string>

namespace banger::imager {

Result<std::vector<BlockRun>> RegionRuns(const ipc::TreeEntry& entry, uint64_t region_start, uint64_t region_end,
                                         uint32_t block_size) {
  std::vector<BlockRun> runs;
  for (const ipc::Extent& x : entry.extents) {
    if (x.length == 0) continue;
    if (x.spool_offset < region_start || x.spool_offset > region_end || region_end - x.spool_offset < x.length) {
      return Error{ErrorCode::kMalformed, "its data is said to lie at " + std::to_string(x.spool_offset) +
                                              ", outside the data region [" + std::to_string(region_start) + ", " +
                                              std::to_string(region_end) + ")"};
    }
    if (x.spool_offset % block_size != x.file_offset % block_size) {
      return Error{ErrorCode::kMalformed, "its bytes at " + std::to_string(x.file_offset) +
                                              " are said to lie off their block's place, at " +
                                              std::to_string(x.spool_offset)};
    }
    const uint64_t first = x.file_offset / block_size, last = (x.file_offset + x.length - 1) / block_size;
    const uint64_t physical = x.spool_offset / block_size;
    if (!runs.empty()) {
      BlockRun& run = runs.back();
      const uint64_t run_end = run.logical + run.count;
      if (first < run_end) {  // shares the run's last block: it must be the same block
        if (run.physical + (first - run.logical) != physical) {
          return Error{ErrorCode::kMalformed, "two pieces of its block " + std::to_string(first) +
                                                  " are said to lie in different places"};
        }
        if (last >= run_end) run.count = last + 1 - run.logical;
        continue;
      }
      if (first == run_end && physical == run.physical + run.count) {
        run.count = last + 1 - run.logical;
        continue;
      }
    }
    runs.push_back({first, physical, last + 1 - first});
  }
  return runs;
}

ClaimMap::ClaimMap(uint64_t first_block, uint64_t blocks)
    : first_(first_block), bits_((blocks + 63) / 64, 0), blocks_(blocks) {}

bool ClaimMap::Claim(uint64_t block, uint64_t count) {
  if (block < first_ || block - first_ > blocks_ || blocks_ - (block - first_) < count) return false;
  const uint64_t from = block - first_;
  for (uint64_t i = from; i < from + count; ++i) {
    if (bits_[i / 64] & (uint64_t{1} << (i % 64))) return false;
  }
  for (uint64_t i = from; i < from + count; ++i) bits_[i / 64] |= uint64_t{1} << (i % 64);
  return true;
}

std::vector<BlockRun> ClaimMap::Unclaimed() const {
  std::vector<BlockRun> runs;
  for (uint64_t i = 0; i < blocks_;) {
    if (bits_[i / 64] & (uint64_t{1} << (i % 64))) {
      ++i;
      continue;
    }
    uint64_t j = i;
    while (j < blocks_ && !(bits_[j / 64] & (uint64_t{1} << (j % 64)))) ++j;
    runs.push_back({0, first_ + i, j - i});
    i = j;
  }
  return runs;
}

}  // namespace banger::imager
