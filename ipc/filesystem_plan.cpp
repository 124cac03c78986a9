#include "ipc/filesystem_plan.h"

#include <algorithm>

namespace banger::ipc {
namespace {

uint64_t RoundUp(uint64_t v, uint64_t to) { return (v + to - 1) / to * to; }

// What ext4 itself takes beyond the content: inode tables, the journal, group metadata.
uint64_t Overhead(uint64_t filesystem_bytes, uint64_t inodes) {
  const uint64_t journal = filesystem_bytes >= (1ull << 30) ? (64ull << 20) : (16ull << 20);
  return inodes * 256 + journal + filesystem_bytes / 50 + (8u << 20);
}

std::string Human(uint64_t bytes) {
  return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB";
}

}  // namespace

Result<FilesystemPlan> PlanFilesystem(const TreeSummary& s, uint64_t requested_bytes, uint64_t region_bytes) {
  FilesystemPlan plan;
  if (region_bytes > kMaxDataRegionBytes) {
    return Error{ErrorCode::kOversized, "the layers' file data (" + std::to_string(region_bytes) +
                                            " bytes) is more than one ext4 filesystem holds"};
  }
  plan.content_bytes = s.data_bytes + s.metadata_bytes + s.directories * kBlock;
  plan.filesystem_bytes =
      requested_bytes != 0 ? RoundUp(requested_bytes, kBlock)
                           : std::max(kFloorBytes, RoundUp(plan.content_bytes + plan.content_bytes / 2, kBlock));
  // One inode per 16 KiB as mkfs.ext4 does, or more when the image has more files.
  plan.inode_count = std::max<uint64_t>(plan.filesystem_bytes / 16384, (s.inodes + 64) * 5 / 4);
  // The region, then everything but file data after it (what later layers replaced is
  // in the region until the imager frees it).
  const uint64_t region_end = DataRegionEnd(kDataRegionStart, region_bytes);
  const uint64_t with_region =
      region_end + (plan.content_bytes - std::min(plan.content_bytes, s.data_bytes)) + Overhead(plan.filesystem_bytes, plan.inode_count);
  if (region_bytes != 0 && plan.filesystem_bytes < with_region) {
    if (requested_bytes != 0) {
      return Error{ErrorCode::kInvalidArgument,
                   "--size " + Human(requested_bytes) + " is too small: the layers' file data takes " +
                       Human(region_bytes) + " while the image is built (what later layers replaced included), and the image needs about " +
                       Human(with_region)};
    }
    plan.filesystem_bytes = RoundUp(with_region + with_region / 16, kBlock);
    plan.inode_count = std::max<uint64_t>(plan.filesystem_bytes / 16384, (s.inodes + 64) * 5 / 4);
  }
  if (plan.inode_count > 0xffffffffull - 1) {
    return Error{ErrorCode::kOversized, "the image has more files than one ext4 filesystem can hold"};
  }
  const uint64_t needed = plan.content_bytes + Overhead(plan.filesystem_bytes, plan.inode_count);
  if (requested_bytes != 0 && plan.filesystem_bytes < needed) {
    return Error{ErrorCode::kInvalidArgument, "--size " + Human(requested_bytes) + " is too small: the image needs about " +
                                                  Human(needed) + " (" + Human(plan.content_bytes) + " of content)"};
  }
  if (plan.filesystem_bytes < (16u << 20)) return Error{ErrorCode::kInvalidArgument, "--size must be at least 16 MiB"};
  return plan;
}

}  // namespace banger::ipc
