// Writes an ext4 filesystem with libext2fs straight into an open fd (block_cache_io.h:
// no path, no mount, no mkfs subprocess), one inode at a time from the tree stream,
// each exact on the first write: type, mode bits, owner, times, xattrs, links, devices,
// holes. Reproducible: identity and times come from the caller, allocation follows the
// stream's order.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/fd.h"
#include "base/result.h"
#include "imager/directory_blocks.h"
#include "imager/block_run.h"
#include "ipc/filesystem_plan.h"
#include "ipc/tree_stream.h"

struct struct_ext2_filsys;

namespace banger::imager {

struct FsParameters {
  uint64_t size_bytes = 1ull << 30;
  // What the tree records' layer numbers name in messages ("layer sha256:..."); a
  // number past the end is banger's own guest files.
  std::vector<std::string> layer_names;
  uint64_t inode_count = 0;              // 0: the mkfs default (one per 16 KiB)
  std::array<uint8_t, 16> uuid{};
  std::array<uint8_t, 16> hash_seed{};
  uint32_t timestamp = 0;                // what "now" is for everything banger creates
  std::string label = "rootfs";
  // The data region (ipc/filesystem_plan.h): [region_start, region_start + region_bytes)
  // holds the files' blocks, already in the image at the offsets the tree gives.
  uint64_t region_start = ipc::kDataRegionStart;
  uint64_t region_bytes = 0;
};

class ClaimMap;

class Ext4Writer {
 public:
  // libext2fs takes `image_fd` (and closes it); free blocks are punched through
  // `data_fd`, the same file, which stays the caller's. The file holds nothing but holes
  // outside the data region (imager_process.cpp cuts and punches it): what the writer
  // has not written there it takes as zeros without reading it.
  static Result<std::unique_ptr<Ext4Writer>> Create(UniqueFd image_fd, int data_fd, const FsParameters& params);
  ~Ext4Writer();

  // Records must come in stream order (parents first).
  Result<void> Add(const ipc::TreeEntry& entry);
  // Directory link counts, then superblocks, bitmaps and descriptors are written.
  Result<void> Finish();

  uint64_t blocks_used() const { return blocks_used_; }

 private:
  Ext4Writer() = default;
  Result<uint32_t> NewInode(uint32_t parent, uint16_t type_and_mode);
  Result<void> Link(uint32_t parent, const std::string& name, uint32_t ino, int file_type);
  // Mode bits, owner and times (WriteAttributes), then xattrs.
  Result<void> SetAttributes(uint32_t ino, const ipc::TreeEntry& entry);
  Result<void> WriteAttributes(uint32_t ino, const ipc::TreeEntry& entry);
  Result<void> SetXattrs(uint32_t ino, const ipc::TreeEntry& entry);
  Result<void> Format(const FsParameters& params);
  Result<void> MakeSkeleton();
  // A regular file's blocks where the data region holds them (region_map.h).
  Result<void> AddInPlace(const ipc::TreeEntry& entry, uint32_t ino);
  // The whole inode of a file whose `runs` are placed and claimed, written once when
  // they fit in the inode, else through libext2fs's extent tree.
  Result<void> WritePlacedInode(const ipc::TreeEntry& entry, uint32_t ino, const std::vector<BlockRun>& runs);
  Result<void> WriteExtentTree(const ipc::TreeEntry& entry, uint32_t ino, const std::vector<BlockRun>& runs);
  // The region's blocks no file claimed are free again, and every free block of the
  // filesystem a hole: nothing a later layer replaced stays readable in free space.
  Result<void> FreeAndPunch();
  Result<void> ReserveRegion();
  Result<void> PlaceTablesPastRegion();
  // Add, by kind: another name for an inode, or a new directory, file, device or fifo.
  Result<void> AddHardlink(const ipc::TreeEntry& entry, uint32_t parent);
  Result<void> AddDirectory(const ipc::TreeEntry& entry, uint32_t parent, uint32_t ino);
  Result<void> AddRegular(const ipc::TreeEntry& entry, uint32_t parent, uint32_t ino);
  Result<void> AddSpecial(const ipc::TreeEntry& entry, uint32_t parent, uint32_t ino);
  // A name the imager made before the layers (lost+found) gives way to the image's own.
  Result<void> ReleaseOwnName(uint32_t parent, const std::string& name);
  Error Fail(long code, const std::string& what) const;
  // "layer sha256:...: '/usr/bin/x'" for the record, so errors name where it came from.
  std::string Where(const ipc::TreeEntry& entry) const;

  struct_ext2_filsys* fs_ = nullptr;
  int data_fd_ = -1;
  std::unique_ptr<ClaimMap> claims_;     // the data region's blocks files have claimed
  uint64_t region_start_ = 0, region_end_ = 0;
  DirectoryBlocks directories_;  // every name, written directory by directory at Finish
  uint32_t own_lost_found_ = 0;  // the /lost+found the imager made (until it gives way)
  std::unordered_map<uint64_t, uint32_t> inodes_;      // stream inode -> ext4 inode
  std::unordered_map<uint32_t, uint32_t> subdirs_;     // ext4 directory -> subdirectories
  std::unordered_map<uint32_t, uint32_t> extra_names_; // ext4 inode -> hardlinks beyond the first
  struct DirectoryName {
    uint64_t parent;  // stream inode
    std::string name;
  };
  std::unordered_map<uint64_t, DirectoryName> directory_names_;  // stream inode -> where it is
  std::vector<std::string> layer_names_;
  uint64_t blocks_used_ = 0;
  bool closed_ = false;
};

}  // namespace banger::imager
