#include "imager/file_inode.h"

#include <ext2fs/ext3_extents.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

namespace banger::imager {
namespace {

// ext4's extra timestamp word: nanoseconds << 2, plus the two epoch bits beyond 2038.
uint32_t ExtraTime(const ipc::Timestamp& t) {
  uint32_t epoch = static_cast<uint32_t>((static_cast<uint64_t>(t.sec) - static_cast<int32_t>(t.sec)) >> 32) & 3;
  return (t.nsec << 2) | epoch;
}

}  // namespace

size_t ExtentsFor(const std::vector<BlockRun>& runs) {
  size_t extents = 0;
  for (const BlockRun& run : runs) extents += (run.count + kMaxExtentBlocks - 1) / kMaxExtentBlocks;
  return extents;
}

void FillAttributes(ext2_inode_large& inode, const ipc::TreeEntry& entry) {
  inode.i_mode = static_cast<__u16>((inode.i_mode & LINUX_S_IFMT) | (entry.mode & 07777));
  inode.i_uid = static_cast<__u16>(entry.uid);
  ext2fs_set_i_uid_high(inode, entry.uid >> 16);
  inode.i_gid = static_cast<__u16>(entry.gid);
  ext2fs_set_i_gid_high(inode, entry.gid >> 16);
  inode.i_atime = static_cast<__u32>(entry.atime.sec);
  inode.i_mtime = static_cast<__u32>(entry.mtime.sec);
  inode.i_ctime = static_cast<__u32>(entry.ctime.sec);
  if (inode.i_extra_isize >= 24) {
    inode.i_atime_extra = ExtraTime(entry.atime);
    inode.i_mtime_extra = ExtraTime(entry.mtime);
    inode.i_ctime_extra = ExtraTime(entry.ctime);
    inode.i_crtime = static_cast<__u32>(entry.mtime.sec);
    inode.i_crtime_extra = ExtraTime(entry.mtime);
  }
}

void SetInodeExtents(ext2_inode_large& inode, const std::vector<BlockRun>& runs) {
  static_assert(sizeof(ext3_extent_header) + kInodeExtents * sizeof(ext3_extent) == sizeof(inode.i_block));
  char root[sizeof(inode.i_block)] = {};
  ext3_extent_header header{};
  header.eh_magic = ext2fs_cpu_to_le16(EXT3_EXT_MAGIC);
  header.eh_max = ext2fs_cpu_to_le16(kInodeExtents);
  uint16_t entries = 0;
  for (const BlockRun& run : runs) {
    for (uint64_t done = 0; done < run.count; done += kMaxExtentBlocks) {
      const uint64_t physical = run.physical + done;
      ext3_extent extent{};
      extent.ee_block = ext2fs_cpu_to_le32(static_cast<uint32_t>(run.logical + done));
      extent.ee_len = ext2fs_cpu_to_le16(static_cast<uint16_t>(std::min(kMaxExtentBlocks, run.count - done)));
      extent.ee_start_hi = ext2fs_cpu_to_le16(static_cast<uint16_t>(physical >> 32));
      extent.ee_start = ext2fs_cpu_to_le32(static_cast<uint32_t>(physical));
      std::memcpy(root + sizeof header + entries * sizeof extent, &extent, sizeof extent);
      ++entries;
    }
  }
  header.eh_entries = ext2fs_cpu_to_le16(entries);
  std::memcpy(root, &header, sizeof header);
  std::memcpy(inode.i_block, root, sizeof root);
  inode.i_flags |= EXT4_EXTENTS_FL;
}

}  // namespace banger::imager
