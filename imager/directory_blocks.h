// Directories written whole, once every name in them is known. ext2fs_link per name reads
// the directory's block, scans it for room, rewrites it and checksums all 4 KiB again:
// on many small files it was most of the imager's time. Here the names are kept as the
// records come, and at the end each directory is laid out in one pass: one linear block
// when its names fit there, else an htree (sorted by name hash, as e2fsck -D lays one
// out), every block written once (docs/imager.md).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/result.h"

struct struct_ext2_filsys;

namespace banger::imager {

// What the names of one image may take in memory, with 12 bytes of bookkeeping each.
inline constexpr uint64_t kMaxNameBytes = 48ull << 20;

// The hash ext4 files `name` under (ext2fs_dirhash2's, with the kernel's rule that the
// major hash 0xfffffffe, its end-of-directory mark, is 0xfffffffc); `version` as the
// directory's root says, plus 3 for unsigned hashes.
Result<std::pair<uint32_t, uint32_t>> NameHash(int version, std::string_view name, const uint32_t seed[4]);

class DirectoryBlocks {
 public:
  // What a libext2fs error code becomes, naming what was being done (Ext4Writer::Fail).
  using Failure = std::function<Error(long code, const std::string& what)>;

  // A directory ext2fs_mkdir made (its "." and ".." block), inside `parent`.
  void Created(uint32_t dir, uint32_t parent);
  bool IsDirectory(uint32_t ino) const { return directories_.contains(ino); }
  // A name in `dir`, which must be a directory Created before. Names are bounded in all
  // (kMaxNameBytes), as everything the imager keeps per entry is.
  Result<void> Add(uint32_t dir, std::string_view name, uint32_t ino, int file_type);
  // The inode `name` names in `dir` so far, or 0; and taking a name back out.
  uint32_t Find(uint32_t dir, std::string_view name) const;
  void Remove(uint32_t dir, std::string_view name);
  // A directory that is gone: nothing is written for it.
  void Forget(uint32_t dir);

  // Lays out and writes every directory that has names, replacing its first block and
  // any others it had.
  Result<void> WriteAll(struct_ext2_filsys* fs, const Failure& fail);

 private:
  struct Name {
    uint32_t ino;
    uint32_t offset;  // into names_
    uint16_t length;
    uint8_t file_type;
  };
  struct Directory {
    uint32_t parent = 0;
    std::vector<Name> names;
  };
  Result<void> Write(struct_ext2_filsys* fs, uint32_t ino, const Directory& dir, const Failure& fail);
  std::string_view NameOf(const Name& name) const { return std::string_view(names_).substr(name.offset, name.length); }

  std::unordered_map<uint32_t, Directory> directories_;
  std::string names_;       // every name, end to end
  uint64_t kept_bytes_ = 0;  // names_ and the Name records, against kMaxNameBytes
};

}  // namespace banger::imager
