#include "imager/ext4_writer.h"

#include "imager/block_cache_io.h"
#include "imager/file_inode.h"
#include "imager/region_map.h"
#include "base/text.h"

#include <ext2fs/ext2fs.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <cstring>
#include <vector>

namespace banger::imager {
namespace {

constexpr uint32_t kBlockSize = 4096;
// The names the imager makes in / before any record, as mke2fs does.
constexpr const char* kOwnRootNames[] = {"lost+found"};

bool IsOwnName(uint32_t parent, const std::string& name) {
  return parent == EXT2_ROOT_INO &&
         std::any_of(std::begin(kOwnRootNames), std::end(kOwnRootNames), [&](const char* own) { return name == own; });
}

int FileTypeOfMode(uint16_t mode) {
  if (LINUX_S_ISREG(mode)) return EXT2_FT_REG_FILE;
  if (LINUX_S_ISDIR(mode)) return EXT2_FT_DIR;
  if (LINUX_S_ISLNK(mode)) return EXT2_FT_SYMLINK;
  if (LINUX_S_ISCHR(mode)) return EXT2_FT_CHRDEV;
  if (LINUX_S_ISBLK(mode)) return EXT2_FT_BLKDEV;
  if (LINUX_S_ISFIFO(mode)) return EXT2_FT_FIFO;
  if (LINUX_S_ISSOCK(mode)) return EXT2_FT_SOCK;
  return EXT2_FT_UNKNOWN;
}

uint16_t TypeBits(ipc::EntryKind kind) {
  switch (kind) {
    case ipc::EntryKind::kDirectory: return LINUX_S_IFDIR;
    case ipc::EntryKind::kRegular: return LINUX_S_IFREG;
    case ipc::EntryKind::kSymlink: return LINUX_S_IFLNK;
    case ipc::EntryKind::kCharDevice: return LINUX_S_IFCHR;
    case ipc::EntryKind::kBlockDevice: return LINUX_S_IFBLK;
    case ipc::EntryKind::kFifo: return LINUX_S_IFIFO;
    case ipc::EntryKind::kSocket: return LINUX_S_IFSOCK;
    case ipc::EntryKind::kHardlink: return 0;
  }
  return 0;
}

}  // namespace

Error Ext4Writer::Fail(long code, const std::string& what) const {
  const char* text = code != 0 ? error_message(code) : "failed";
  // ENOSPC from the io manager is the image file's disk filling up; libext2fs's own
  // allocation failures mean the new filesystem is too small.
  if (code == ENOSPC || code == EDQUOT) return Error{ErrorCode::kNoSpace, what + ": " + text};
  if (code == EXT2_ET_BLOCK_ALLOC_FAIL || code == EXT2_ET_INODE_ALLOC_FAIL) {
    return Error{ErrorCode::kOversized, what + ": " + text + " (the filesystem is too small for the image)"};
  }
  return Error{ErrorCode::kIo, what + ": " + text};
}

namespace {

// The superblock mkfs.ext4 would start from, with what Debian 12's /etc/mke2fs.conf asks.
ext2_super_block SuperblockFor(const FsParameters& params) {
  ext2_super_block param;
  std::memset(&param, 0, sizeof param);
  ext2fs_blocks_count_set(&param, params.size_bytes / kBlockSize);
  param.s_log_block_size = 2;  // 4 KiB
  param.s_rev_level = EXT2_DYNAMIC_REV;
  param.s_inode_size = 256;
  param.s_inodes_count = static_cast<uint32_t>(params.inode_count);
  param.s_log_groups_per_flex = 4;
  param.s_min_extra_isize = param.s_want_extra_isize = 32;
  param.s_desc_size = EXT2_MIN_DESC_SIZE_64BIT;
  param.s_def_hash_version = EXT2_HASH_HALF_MD4;
  param.s_default_mount_opts = EXT2_DEFM_XATTR_USER | EXT2_DEFM_ACL;
  ext2fs_set_feature_journal(&param);
  ext2fs_set_feature_xattr(&param);
  ext2fs_set_feature_resize_inode(&param);
  ext2fs_set_feature_dir_index(&param);
  ext2fs_set_feature_filetype(&param);
  ext2fs_set_feature_extents(&param);
  ext2fs_set_feature_64bit(&param);
  ext2fs_set_feature_flex_bg(&param);
  ext2fs_set_feature_sparse_super(&param);
  // Backup superblocks would land in the data region (groups 1, 3, 5, 7, 9, 25, ...):
  // one backup, in the last group when it starts past the region, else none.
  ext2fs_set_feature_sparse_super2(&param);
  const uint64_t blocks = params.size_bytes / kBlockSize, groups = (blocks + 32767) / 32768;
  const uint64_t region_end_block = ipc::DataRegionEnd(params.region_start, params.region_bytes) / kBlockSize;
  // ext2fs_initialize drops a last group too short to hold its own metadata and moves the
  // backup to the group before: that one must start past the region too.
  if (groups > 2 && (groups - 2) * 32768 >= region_end_block) param.s_backup_bgs[0] = static_cast<__u32>(groups - 1);
  ext2fs_set_feature_large_file(&param);
  ext2fs_set_feature_huge_file(&param);
  ext2fs_set_feature_dir_nlink(&param);
  ext2fs_set_feature_extra_isize(&param);
  ext2fs_set_feature_metadata_csum(&param);
  return param;
}

}  // namespace

Result<std::unique_ptr<Ext4Writer>> Ext4Writer::Create(UniqueFd image_fd, int data_fd, const FsParameters& params) {
  std::unique_ptr<Ext4Writer> writer(new Ext4Writer());
  writer->data_fd_ = data_fd;
  writer->layer_names_ = params.layer_names;
  if (params.size_bytes < (16u << 20) || params.size_bytes % kBlockSize != 0) {
    return Error{ErrorCode::kInvalidArgument, "filesystem size must be a multiple of 4 KiB and at least 16 MiB"};
  }
  // Every time libext2fs stamps (mkfs time, journal, bad-block inode) is this one.
  std::string fake_time = std::to_string(params.timestamp);
  ::setenv("E2FSPROGS_FAKE_TIME", fake_time.c_str(), 1);
  ext2_super_block param = SuperblockFor(params);
  initialize_ext2_error_table();
  // The I/O manager takes the fd number, and the descriptor with it: the channel closes
  // it, on success at ext2fs_free and on failure itself.
  const std::string device = std::to_string(image_fd.release());
  ext2_filsys fs = nullptr;
  errcode_t rc = ext2fs_initialize(device.c_str(), EXT2_FLAG_64BITS, &param, BlockCacheIoManager(), &fs);
  if (rc) return writer->Fail(rc, "creating the filesystem");
  writer->fs_ = fs;
  writer->region_start_ = params.region_start;
  writer->region_end_ = ipc::DataRegionEnd(params.region_start, params.region_bytes);
  AssumeZerosOutside(fs->io, writer->region_start_, writer->region_end_);
  BANGER_TRY(writer->ReserveRegion());
  BANGER_TRY(writer->Format(params));
  BANGER_TRY(writer->MakeSkeleton());
  writer->inodes_[ipc::kRootInode] = EXT2_ROOT_INO;
  return writer;
}

// The superblock's identity and times, the group tables and the reserved inodes.
Result<void> Ext4Writer::Format(const FsParameters& params) {
  // Every block read back was written by this process moments before: verifying its
  // checksum again (crc32c of each directory block ext2fs_link walks) only costs time.
  // Checksums are still computed on every write; e2fsck checks them in the tests.
  fs_->flags |= EXT2_FLAG_IGNORE_CSUM_ERRORS;
  fs_->now = params.timestamp;
  fs_->super->s_mkfs_time = fs_->super->s_lastcheck = params.timestamp;
  fs_->super->s_max_mnt_count = static_cast<__u16>(-1);
  fs_->super->s_checkinterval = 0;
  fs_->super->s_flags |= EXT2_FLAGS_SIGNED_HASH;
  // ext2fs_initialize leaves "legacy", an unseeded hash; mkfs.ext4 makes half_md4, seeded.
  fs_->super->s_def_hash_version = EXT2_HASH_HALF_MD4;
  std::memcpy(fs_->super->s_uuid, params.uuid.data(), 16);
  std::memcpy(fs_->super->s_hash_seed, params.hash_seed.data(), 16);
  std::strncpy(reinterpret_cast<char*>(fs_->super->s_volume_name), params.label.c_str(), EXT2_LABEL_LEN);
  fs_->super->s_checksum_type = EXT2_CRC32C_CHKSUM;
  ext2fs_init_csum_seed(fs_);
  errcode_t rc = 0;
  BANGER_TRY(PlaceTablesPastRegion());
  if ((rc = ext2fs_allocate_tables(fs_))) return Fail(rc, "allocating group tables");
  if ((rc = ext2fs_convert_subcluster_bitmap(fs_, &fs_->block_map))) return Fail(rc, "converting bitmaps");
  // The image file is new and sparse: inode tables already read as zeros.
  for (dgrp_t g = 0; g < fs_->group_desc_count; ++g) {
    ext2fs_bg_flags_set(fs_, g, EXT2_BG_INODE_ZEROED);
    ext2fs_group_desc_csum_set(fs_, g);
  }
  std::vector<char> zero(EXT2_INODE_SIZE(fs_->super), 0);
  for (ext2_ino_t ino = 1; ino < EXT2_FIRST_INO(fs_->super); ++ino) {
    if ((rc = ext2fs_write_inode_full(fs_, ino, reinterpret_cast<ext2_inode*>(zero.data()),
                                      static_cast<int>(zero.size())))) {
      return Fail(rc, "writing reserved inodes");
    }
  }
  return {};
}

// What mke2fs makes before any file: /, /lost+found (16 KiB, for e2fsck's use), the
// bad-block and resize inodes, and the journal.
Result<void> Ext4Writer::MakeSkeleton() {
  errcode_t rc = 0;
  if ((rc = ext2fs_mkdir(fs_, EXT2_ROOT_INO, EXT2_ROOT_INO, nullptr))) return Fail(rc, "creating /");
  directories_.Created(EXT2_ROOT_INO, EXT2_ROOT_INO);
  fs_->umask = 077;
  ext2_ino_t lost_found = 0;
  if ((rc = ext2fs_new_inode(fs_, EXT2_ROOT_INO, LINUX_S_IFDIR | 0700, nullptr, &lost_found)) ||
      (rc = ext2fs_mkdir(fs_, EXT2_ROOT_INO, lost_found, nullptr))) {
    return Fail(rc, "creating /lost+found");
  }
  directories_.Created(lost_found, EXT2_ROOT_INO);
  own_lost_found_ = lost_found;
  BANGER_TRY(Link(EXT2_ROOT_INO, "lost+found", lost_found, EXT2_FT_DIR));
  for (int i = 1; i < 4; ++i) {
    if ((rc = ext2fs_expand_dir(fs_, lost_found))) return Fail(rc, "expanding /lost+found");
  }
  subdirs_[EXT2_ROOT_INO] = 1;
  fs_->umask = 022;
  for (ext2_ino_t ino = EXT2_ROOT_INO + 1; ino < EXT2_FIRST_INODE(fs_->super); ++ino) {
    ext2fs_inode_alloc_stats2(fs_, ino, +1, 0);
  }
  ext2fs_mark_ib_dirty(fs_);
  ext2fs_mark_inode_bitmap2(fs_->inode_map, EXT2_BAD_INO);
  ext2fs_inode_alloc_stats2(fs_, EXT2_BAD_INO, +1, 0);
  if ((rc = ext2fs_update_bb_inode(fs_, nullptr))) return Fail(rc, "writing the bad-block inode");
  if ((rc = ext2fs_create_resize_inode(fs_))) return Fail(rc, "reserving blocks for online resize");
  ext2fs_journal_params journal;
  if ((rc = ext2fs_get_journal_params(&journal, fs_))) return Fail(rc, "sizing the journal");
  // The journal's blocks are fresh zeros in a new file: no need to write them.
  if ((rc = ext2fs_add_journal_inode3(fs_, &journal, ~0ULL, EXT2_MKJOURNAL_LAZYINIT | EXT2_MKJOURNAL_NO_MNT_CHECK))) {
    return Fail(rc, "creating the journal");
  }
  return {};
}

std::string Ext4Writer::Where(const ipc::TreeEntry& entry) const {
  std::string path = "/" + entry.name;
  uint64_t parent = entry.parent;
  // Bounded by the records seen: a directory's parent always came before it.
  for (size_t hops = 0; hops <= directory_names_.size(); ++hops) {
    auto it = directory_names_.find(parent);
    if (it == directory_names_.end()) break;
    path = "/" + it->second.name + path;
    parent = it->second.parent;
  }
  std::string layer = entry.layer < layer_names_.size() ? layer_names_[entry.layer]
                      : layer_names_.empty()           ? "layer " + std::to_string(entry.layer)
                                                       : "banger's guest files";
  return layer + ": '" + Printable(path) + "'";
}

Result<void> Ext4Writer::ReleaseOwnName(uint32_t parent, const std::string& name) {
  if (!IsOwnName(parent, name)) return {};
  const ext2_ino_t ino = directories_.Find(EXT2_ROOT_INO, name);
  if (ino == 0 || ino != own_lost_found_) return {};  // gone already, or the image's own
  // The image's own entry wins, as a layer's entry wins over a lower layer's: the empty
  // directory goes, blocks, inode and all (e2fsck makes lost+found again if it needs one).
  ext2_inode_large inode;
  std::memset(&inode, 0, sizeof inode);
  errcode_t rc = ext2fs_read_inode_full(fs_, ino, reinterpret_cast<ext2_inode*>(&inode), sizeof inode);
  directories_.Remove(EXT2_ROOT_INO, name);
  directories_.Forget(ino);
  if (!rc) rc = ext2fs_punch(fs_, ino, reinterpret_cast<ext2_inode*>(&inode), nullptr, 0, ~0ULL);
  if (rc) return Fail(rc, "removing the imager's own /" + name);
  std::memset(&inode, 0, sizeof inode);
  inode.i_extra_isize = sizeof(inode) - EXT2_GOOD_OLD_INODE_SIZE;
  if ((rc = ext2fs_write_inode_full(fs_, ino, reinterpret_cast<ext2_inode*>(&inode), sizeof inode))) {
    return Fail(rc, "clearing the imager's own /" + name);
  }
  ext2fs_inode_alloc_stats2(fs_, ino, -1, /*isdir=*/1);
  subdirs_[EXT2_ROOT_INO]--;
  subdirs_.erase(ino);
  return {};
}

Ext4Writer::~Ext4Writer() {
  if (fs_ != nullptr && !closed_) ext2fs_free(fs_);
}

Result<uint32_t> Ext4Writer::NewInode(uint32_t parent, uint16_t type_and_mode) {
  ext2_ino_t ino = 0;
  errcode_t rc = ext2fs_new_inode(fs_, parent, type_and_mode, nullptr, &ino);
  if (rc) return Fail(rc, "allocating an inode");
  return ino;
}

// The name goes into its directory's list; the directory's blocks are written at Finish.
Result<void> Ext4Writer::Link(uint32_t parent, const std::string& name, uint32_t ino, int file_type) {
  return directories_.Add(parent, name, ino, file_type);
}

Result<void> Ext4Writer::SetAttributes(uint32_t ino, const ipc::TreeEntry& entry) {
  BANGER_TRY(WriteAttributes(ino, entry));
  return SetXattrs(ino, entry);
}

Result<void> Ext4Writer::WriteAttributes(uint32_t ino, const ipc::TreeEntry& entry) {
  ext2_inode_large inode;
  std::memset(&inode, 0, sizeof inode);
  errcode_t rc = ext2fs_read_inode_full(fs_, ino, reinterpret_cast<ext2_inode*>(&inode), sizeof inode);
  if (rc) return Fail(rc, "reading an inode");
  FillAttributes(inode, entry);
  rc = ext2fs_write_inode_full(fs_, ino, reinterpret_cast<ext2_inode*>(&inode), sizeof inode);
  if (rc) return Fail(rc, "writing an inode");
  return {};
}

Result<void> Ext4Writer::SetXattrs(uint32_t ino, const ipc::TreeEntry& entry) {
  if (entry.xattrs.empty()) return {};
  ext2_xattr_handle* handle = nullptr;
  errcode_t rc = ext2fs_xattrs_open(fs_, ino, &handle);
  if (rc) return Fail(rc, "opening xattrs");
  if (!(rc = ext2fs_xattrs_read(handle))) {
    for (const ipc::Xattr& x : entry.xattrs) {
      if ((rc = ext2fs_xattr_set(handle, x.name.c_str(), x.value.data(), x.value.size()))) break;
    }
  }
  errcode_t close_rc = ext2fs_xattrs_close(&handle);
  if (rc || close_rc) {
    size_t bytes = 0;
    for (const ipc::Xattr& x : entry.xattrs) bytes += x.name.size() + x.value.size();
    return Error{ErrorCode::kOversized, Where(entry) + ": its " + std::to_string(entry.xattrs.size()) + " xattr(s) of " +
                                            std::to_string(bytes) +
                                            " bytes do not fit in ext4 (the inode and one 4 KiB block hold them: " +
                                            error_message(rc ? rc : close_rc) + ")"};
  }
  return {};
}

// The region's blocks are in use before any table is placed, so group tables, the
// journal and every block libext2fs allocates go around it.
Result<void> Ext4Writer::ReserveRegion() {
  const uint64_t first = region_start_ / kBlockSize, end = region_end_ / kBlockSize;
  const uint64_t overhead = 1 + fs_->desc_blocks + fs_->super->s_reserved_gdt_blocks;
  if (region_start_ % kBlockSize != 0 || first < overhead || end > ext2fs_blocks_count(fs_->super)) {
    return Error{ErrorCode::kInvalidArgument, "the data region [" + std::to_string(region_start_) + ", " +
                                                  std::to_string(region_end_) + ") does not fit the filesystem"};
  }
  // Nothing libext2fs placed (a backup superblock and its descriptors) may lie in it.
  blk64_t taken = 0;
  if (end > first && ext2fs_find_first_set_block_bitmap2(fs_->block_map, first, end - 1, &taken) != ENOENT) {
    return Error{ErrorCode::kInvalidArgument, "the data region [" + std::to_string(region_start_) + ", " +
                                                  std::to_string(region_end_) + ") overlaps the filesystem's own blocks"};
  }
  claims_ = std::make_unique<ClaimMap>(first, end - first);
  if (end > first) ext2fs_block_alloc_stats_range(fs_, first, end - first, +1);
  return {};
}

// Every group's bitmaps and inode table go right after the region, packed: all block
// bitmaps, all inode bitmaps, then the inode tables end to end (one sequential run).
// libext2fs would look for a flex group's tables only up to that flex group's last
// block, and a region past 512 MiB in a filesystem of more than 16 groups leaves it no
// room there (the 16 MiB before the region hold fewer inode tables than 16 groups need).
// ext4 with flex_bg allows a group's tables anywhere; ext2fs_allocate_tables then finds
// every group placed and leaves it.
Result<void> Ext4Writer::PlaceTablesPastRegion() {
  if (region_end_ <= region_start_) return {};
  const dgrp_t groups = fs_->group_desc_count;
  const blk64_t count = ext2fs_blocks_count(fs_->super);
  blk64_t next = region_end_ / kBlockSize;
  // `blocks` free blocks in a row at or after `next`, taken (the bitmap, the groups'
  // free counts, the superblock's).
  auto take = [&](blk64_t blocks, const char* what) -> Result<blk64_t> {
    blk64_t found = 0;
    if (errcode_t rc = ext2fs_get_free_blocks2(fs_, next, count, static_cast<int>(blocks), fs_->block_map, &found)) {
      return Fail(rc, std::string("placing the ") + what + " after the data region");
    }
    ext2fs_block_alloc_stats_range(fs_, found, static_cast<blk_t>(blocks), +1);
    next = found + blocks;
    return found;
  };
  for (dgrp_t g = 0; g < groups; ++g) {
    BANGER_ASSIGN_OR_RETURN(const blk64_t at, take(1, "block bitmaps"));
    ext2fs_block_bitmap_loc_set(fs_, g, at);
  }
  for (dgrp_t g = 0; g < groups; ++g) {
    BANGER_ASSIGN_OR_RETURN(const blk64_t at, take(1, "inode bitmaps"));
    ext2fs_inode_bitmap_loc_set(fs_, g, at);
  }
  for (dgrp_t g = 0; g < groups; ++g) {
    BANGER_ASSIGN_OR_RETURN(const blk64_t at, take(fs_->inode_blocks_per_group, "inode tables"));
    ext2fs_inode_table_loc_set(fs_, g, at);
    ext2fs_group_desc_csum_set(fs_, g);
  }
  return {};
}

Result<void> Ext4Writer::WritePlacedInode(const ipc::TreeEntry& entry, uint32_t ino, const std::vector<BlockRun>& runs) {
  if (ExtentsFor(runs) > kInodeExtents) return WriteExtentTree(entry, ino, runs);
  uint64_t blocks = 0;
  for (const BlockRun& run : runs) blocks += run.count;
  std::vector<char> buffer(EXT2_INODE_SIZE(fs_->super), 0);
  auto& inode = *reinterpret_cast<ext2_inode_large*>(buffer.data());
  inode.i_extra_isize = sizeof(ext2_inode_large) - EXT2_GOOD_OLD_INODE_SIZE;
  inode.i_mode = LINUX_S_IFREG;
  inode.i_links_count = 1;
  FillAttributes(inode, entry);
  SetInodeExtents(inode, runs);
  errcode_t rc = ext2fs_inode_size_set(fs_, reinterpret_cast<ext2_inode*>(&inode), entry.size);
  if (!rc) rc = ext2fs_iblk_set(fs_, reinterpret_cast<ext2_inode*>(&inode), blocks);
  if (!rc) rc = ext2fs_write_inode_full(fs_, ino, reinterpret_cast<ext2_inode*>(buffer.data()), static_cast<int>(buffer.size()));
  if (rc) return Fail(rc, "writing the inode of " + Where(entry));
  return {};
}

// More extents than the inode holds: inserted one after another through libext2fs's
// extent handle, which moves them into a leaf block (or more) as the root fills.
Result<void> Ext4Writer::WriteExtentTree(const ipc::TreeEntry& entry, uint32_t ino, const std::vector<BlockRun>& runs) {
  ext2_inode inode;
  std::memset(&inode, 0, sizeof inode);
  inode.i_mode = static_cast<__u16>(LINUX_S_IFREG | (entry.mode & 07777));
  inode.i_links_count = 1;
  errcode_t rc = ext2fs_inode_size_set(fs_, &inode, entry.size);
  if (!rc) rc = ext2fs_write_new_inode(fs_, ino, &inode);
  if (rc) return Fail(rc, "writing the inode of " + Where(entry));
  ext2_extent_handle_t handle = nullptr;
  if ((rc = ext2fs_extent_open2(fs_, ino, &inode, &handle))) return Fail(rc, "starting the extents of " + Where(entry));
  std::unique_ptr<ext2_extent_handle, void (*)(ext2_extent_handle_t)> owned(handle, ext2fs_extent_free);
  uint64_t blocks = 0;
  bool first = true;
  for (const BlockRun& run : runs) {
    for (uint64_t done = 0; done < run.count; done += kMaxExtentBlocks) {
      ext2fs_extent extent{};
      extent.e_pblk = run.physical + done;
      extent.e_lblk = static_cast<blk_t>(run.logical + done);
      extent.e_len = static_cast<__u32>(std::min(kMaxExtentBlocks, run.count - done));
      if ((rc = ext2fs_extent_insert(handle, first ? 0 : EXT2_EXTENT_INSERT_AFTER, &extent))) {
        return Fail(rc, "adding an extent of " + Where(entry));
      }
      first = false;
    }
    blocks += run.count;
  }
  owned.reset();
  // The handle wrote the inode as the tree grew, its leaf blocks counted in i_blocks.
  if ((rc = ext2fs_read_inode(fs_, ino, &inode)) || (rc = ext2fs_iblk_add_blocks(fs_, &inode, blocks)) ||
      (rc = ext2fs_write_inode(fs_, ino, &inode))) {
    return Fail(rc, "writing the inode of " + Where(entry));
  }
  return WriteAttributes(ino, entry);
}

Result<void> Ext4Writer::AddInPlace(const ipc::TreeEntry& entry, uint32_t ino) {
  auto runs = RegionRuns(entry, region_start_, region_end_, kBlockSize);
  if (!runs) return Error{ErrorCode::kMalformed, Where(entry) + ": " + runs.error().message};
  for (const BlockRun& run : *runs) {
    if (!claims_->Claim(run.physical, run.count)) {
      return Error{ErrorCode::kMalformed, Where(entry) + ": its data is said to lie in block " +
                                              std::to_string(run.physical) + ", which another file holds"};
    }
  }
  return WritePlacedInode(entry, ino, *runs);
}

Result<void> Ext4Writer::FreeAndPunch() {
  for (const BlockRun& run : claims_->Unclaimed()) ext2fs_block_alloc_stats_range(fs_, run.physical, run.count, -1);
  const blk64_t last = ext2fs_blocks_count(fs_->super) - 1;
  for (blk64_t start = fs_->super->s_first_data_block; start <= last;) {
    blk64_t free = 0, used = 0;
    errcode_t rc = ext2fs_find_first_zero_block_bitmap2(fs_->block_map, start, last, &free);
    if (rc == ENOENT) break;
    if (rc) return Fail(rc, "looking for free blocks");
    rc = ext2fs_find_first_set_block_bitmap2(fs_->block_map, free, last, &used);
    if (rc == ENOENT) used = last + 1;
    else if (rc) return Fail(rc, "looking for used blocks");
    DropCachedRange(fs_->io, free * kBlockSize, (used - free) * kBlockSize);
    if (::fallocate(data_fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(free * kBlockSize),
                    static_cast<off_t>((used - free) * kBlockSize)) != 0) {
      return Error::FromErrno("punching the image's free blocks (fallocate)");
    }
    start = used + 1;
  }
  return {};
}

Result<void> Ext4Writer::AddHardlink(const ipc::TreeEntry& entry, uint32_t parent) {
  auto target = inodes_.find(entry.inode);
  if (target == inodes_.end()) return Error{ErrorCode::kMalformed, "hardlink record before its inode"};
  ext2_inode inode;
  if (errcode_t rc = ext2fs_read_inode(fs_, target->second, &inode)) return Fail(rc, "reading a hardlinked inode");
  if (LINUX_S_ISDIR(inode.i_mode)) return Error{ErrorCode::kMalformed, "hardlink record to a directory"};
  if (2 + extra_names_[target->second] > EXT2_LINK_MAX) {
    return Error{ErrorCode::kOversized, Where(entry) + ": one more name than the " + std::to_string(EXT2_LINK_MAX) +
                                            " links ext4 holds for one inode"};
  }
  BANGER_TRY(Link(parent, entry.name, target->second, FileTypeOfMode(inode.i_mode)));
  extra_names_[target->second]++;
  return {};
}

Result<void> Ext4Writer::AddDirectory(const ipc::TreeEntry& entry, uint32_t parent, uint32_t ino) {
  directory_names_[entry.inode] = {entry.parent, entry.name};
  if (errcode_t rc = ext2fs_mkdir(fs_, parent, ino, nullptr)) return Fail(rc, "creating a directory");
  directories_.Created(ino, parent);
  BANGER_TRY(Link(parent, entry.name, ino, EXT2_FT_DIR));
  subdirs_[parent]++;
  subdirs_.emplace(ino, 0);
  return {};
}

Result<void> Ext4Writer::AddRegular(const ipc::TreeEntry& entry, uint32_t parent, uint32_t ino) {
  BANGER_TRY(AddInPlace(entry, ino));
  ext2fs_inode_alloc_stats2(fs_, ino, +1, 0);
  return Link(parent, entry.name, ino, EXT2_FT_REG_FILE);
}

// Devices, fifos and sockets: an inode and a name, the device number in i_block.
Result<void> Ext4Writer::AddSpecial(const ipc::TreeEntry& entry, uint32_t parent, uint32_t ino) {
  ext2_inode inode;
  std::memset(&inode, 0, sizeof inode);
  inode.i_mode = static_cast<__u16>(TypeBits(entry.kind) | (entry.mode & 07777));
  inode.i_links_count = 1;
  if (entry.kind == ipc::EntryKind::kCharDevice || entry.kind == ipc::EntryKind::kBlockDevice) {
    const uint32_t major = entry.rdev_major, minor = entry.rdev_minor;
    if (major < 256 && minor < 256) {
      inode.i_block[0] = major * 256 + minor;  // the old encoding, as the kernel writes small numbers
    } else {
      inode.i_block[1] = (minor & 0xff) | (major << 8) | ((minor & ~0xffu) << 12);
    }
  }
  if (errcode_t rc = ext2fs_write_new_inode(fs_, ino, &inode)) return Fail(rc, "writing an inode");
  ext2fs_inode_alloc_stats2(fs_, ino, +1, 0);
  return Link(parent, entry.name, ino, FileTypeOfMode(TypeBits(entry.kind)));
}

Result<void> Ext4Writer::Add(const ipc::TreeEntry& entry) {
  if (entry.inode == ipc::kRootInode) return SetAttributes(EXT2_ROOT_INO, entry);
  auto parent_it = inodes_.find(entry.parent);
  if (parent_it == inodes_.end()) {
    return Error{ErrorCode::kMalformed, "tree record for '" + Printable(entry.name) + "' names an unknown parent"};
  }
  const uint32_t parent = parent_it->second;
  if (!directories_.IsDirectory(parent)) {
    return Error{ErrorCode::kMalformed, Where(entry) + ": its parent is not a directory"};
  }
  if (entry.kind != ipc::EntryKind::kDirectory) BANGER_TRY(ReleaseOwnName(parent, entry.name));
  if (entry.kind == ipc::EntryKind::kHardlink) return AddHardlink(entry, parent);
  if (inodes_.count(entry.inode)) return Error{ErrorCode::kMalformed, "tree record repeats an inode"};

  // lost+found may come with the image: a directory is merged, as a layer would.
  if (entry.kind == ipc::EntryKind::kDirectory && IsOwnName(parent, entry.name)) {
    if (const ext2_ino_t existing = directories_.Find(parent, entry.name)) {
      inodes_[entry.inode] = existing;
      directory_names_[entry.inode] = {entry.parent, entry.name};
      return SetAttributes(existing, entry);
    }
  }

  BANGER_ASSIGN_OR_RETURN(uint32_t ino, NewInode(parent, TypeBits(entry.kind) | (entry.mode & 07777)));
  switch (entry.kind) {
    case ipc::EntryKind::kDirectory: BANGER_TRY(AddDirectory(entry, parent, ino)); break;
    case ipc::EntryKind::kSymlink:
      if (errcode_t rc = ext2fs_symlink(fs_, parent, ino, nullptr, entry.link_target.c_str())) {
        return Fail(rc, "creating a symlink");
      }
      BANGER_TRY(Link(parent, entry.name, ino, EXT2_FT_SYMLINK));
      break;
    case ipc::EntryKind::kRegular: BANGER_TRY(AddRegular(entry, parent, ino)); break;
    default: BANGER_TRY(AddSpecial(entry, parent, ino)); break;
  }
  inodes_[entry.inode] = ino;
  // AddRegular wrote a file's mode, owner and times with the rest of its inode.
  return entry.kind == ipc::EntryKind::kRegular ? SetXattrs(ino, entry) : SetAttributes(ino, entry);
}

Result<void> Ext4Writer::Finish() {
  BANGER_TRY(directories_.WriteAll(fs_, [this](long code, const std::string& what) { return Fail(code, what); }));
  errcode_t rc = 0;
  // Directory link counts: 2 + subdirectories, or 1 past ext4's limit (dir_nlink).
  for (const auto& [dir, subdirs] : subdirs_) {
    ext2_inode inode;
    if ((rc = ext2fs_read_inode(fs_, dir, &inode))) return Fail(rc, "reading a directory");
    const uint32_t links = 2 + subdirs;
    inode.i_links_count = static_cast<__u16>(links > EXT2_LINK_MAX ? 1 : links);
    if ((rc = ext2fs_write_inode(fs_, dir, &inode))) return Fail(rc, "writing a directory");
  }
  for (const auto& [ino, extra] : extra_names_) {
    ext2_inode inode;
    if ((rc = ext2fs_read_inode(fs_, ino, &inode))) return Fail(rc, "reading an inode");
    inode.i_links_count = static_cast<__u16>(1 + extra);
    if ((rc = ext2fs_write_inode(fs_, ino, &inode))) return Fail(rc, "writing an inode");
  }
  BANGER_TRY(FreeAndPunch());
  blocks_used_ = ext2fs_blocks_count(fs_->super) - ext2fs_free_blocks_count(fs_->super);
  fs_->super->s_wtime = fs_->super->s_mkfs_time;
  closed_ = true;
  if ((rc = ext2fs_close_free(&fs_))) return Fail(rc, "writing the filesystem out");
  return {};
}

}  // namespace banger::imager
