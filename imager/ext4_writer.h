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
};

class DataCopier;

class Ext4Writer {
 public:
  // libext2fs takes `image_fd` (and closes it); file data is written through `data_fd`,
  // the same file, which stays the caller's, and whole blocks of it through `direct_fd`
  // (the same file opened O_DIRECT, also the caller's) when there is one.
  static Result<std::unique_ptr<Ext4Writer>> Create(UniqueFd image_fd, int data_fd, const FsParameters& params,
                                                    int direct_fd = -1);
  ~Ext4Writer();

  // Records must come in stream order (parents first). File bytes come from `spool_fd`.
  Result<void> Add(const ipc::TreeEntry& entry, int spool_fd);
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
  Result<void> WriteData(uint32_t ino, const ipc::TreeEntry& entry, int spool_fd);
  // A regular file's blocks placed and its inode written once (file_inode.h); false
  // when the file needs libext2fs's extent tree.
  Result<bool> AddWholeFile(const ipc::TreeEntry& entry, uint32_t ino, int spool_fd);
  Result<void> CopyInto(const ipc::TreeEntry& entry, const BlockRun& run, int spool_fd, size_t& next);
  // Add, by kind: another name for an inode, or a new directory, file, device or fifo.
  Result<void> AddHardlink(const ipc::TreeEntry& entry, uint32_t parent);
  Result<void> AddDirectory(const ipc::TreeEntry& entry, uint32_t parent, uint32_t ino);
  Result<void> AddRegular(const ipc::TreeEntry& entry, uint32_t parent, uint32_t ino, int spool_fd);
  Result<void> AddSpecial(const ipc::TreeEntry& entry, uint32_t parent, uint32_t ino);
  // A name the imager made before the layers (lost+found) gives way to the image's own.
  Result<void> ReleaseOwnName(uint32_t parent, const std::string& name);
  Error Fail(long code, const std::string& what) const;
  // "layer sha256:...: '/usr/bin/x'" for the record, so errors name where it came from.
  std::string Where(const ipc::TreeEntry& entry) const;

  struct_ext2_filsys* fs_ = nullptr;
  int data_fd_ = -1;
  int direct_fd_ = -1;
  std::unique_ptr<DataCopier> copier_;  // file data, copied while the next records go in
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
