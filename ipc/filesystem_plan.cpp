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

Result<FilesystemPlan> PlanFilesystem(const TreeSummary& s, uint64_t requested_bytes) {
  FilesystemPlan plan;
  plan.content_bytes = s.data_bytes + s.metadata_bytes + s.directories * kBlock;
  plan.filesystem_bytes =
      requested_bytes != 0 ? RoundUp(requested_bytes, kBlock)
                           : std::max(kFloorBytes, RoundUp(plan.content_bytes + plan.content_bytes / 2, kBlock));
  // One inode per 16 KiB as mkfs.ext4 does, or more when the image has more files.
  plan.inode_count = std::max<uint64_t>(plan.filesystem_bytes / 16384, (s.inodes + 64) * 5 / 4);
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
