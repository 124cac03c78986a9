#include "imager/directory_blocks.h"

#include <ext2fs/ext2fs.h>

#include <algorithm>
#include <cstring>
#include <numeric>

namespace banger::imager {
namespace {

constexpr unsigned kRootHeader = 32;  // ".", "..", dx_root_info: where the root's index starts
constexpr unsigned kNodeHeader = 8;   // an empty entry spanning the block, then the index

unsigned RecordLength(size_t name_length) { return static_cast<unsigned>((8 + name_length + 3) & ~size_t{3}); }

void PutEntry(ext2_filsys fs, char* at, uint32_t ino, std::string_view name, int file_type, unsigned record_length) {
  auto* entry = reinterpret_cast<ext2_dir_entry*>(at);
  entry->inode = ino;
  ext2fs_set_rec_len(fs, record_length, entry);
  ext2fs_dirent_set_name_len(entry, static_cast<int>(name.size()));
  ext2fs_dirent_set_file_type(entry, file_type);
  std::memcpy(entry->name, name.data(), name.size());
}

// One block of a directory as it is laid out, before its bytes are made.
struct Leaf {
  size_t first = 0, count = 0;  // into the order the names are laid out in
  uint32_t start_hash = 0;      // for the index: its first name's hash (| 1 when it continues the last)
};

}  // namespace

void DirectoryBlocks::Created(uint32_t dir, uint32_t parent) { directories_[dir].parent = parent; }

Result<std::pair<uint32_t, uint32_t>> NameHash(int version, std::string_view name, const uint32_t seed[4]) {
  ext2_dirhash_t hash = 0, minor = 0;
  if (errcode_t rc = ext2fs_dirhash2(version, name.data(), static_cast<int>(name.size()), nullptr, 0, seed, &hash, &minor)) {
    return Error{ErrorCode::kIo, std::string("hashing a directory's names: ") + error_message(rc)};
  }
  // fs/ext4/hash.c: the major hash 0xfffffffe marks the end of a directory; a name that
  // hashes to it is filed under 0xfffffffc, or the kernel would never find it.
  if (hash == 0xfffffffeu) hash = 0xfffffffcu;
  return std::pair<uint32_t, uint32_t>{hash, minor};
}

Result<void> DirectoryBlocks::Add(uint32_t dir, std::string_view name, uint32_t ino, int file_type) {
  auto it = directories_.find(dir);
  if (it == directories_.end()) {
    return Error{ErrorCode::kMalformed, "a tree record names a parent that is not a directory"};
  }
  kept_bytes_ += name.size() + sizeof(Name);
  if (kept_bytes_ > kMaxNameBytes) {
    return Error{ErrorCode::kOversized, "the image's names take more than the " + std::to_string(kMaxNameBytes >> 20) +
                                            " MiB the imager keeps of them"};
  }
  it->second.names.push_back(
      {ino, static_cast<uint32_t>(names_.size()), static_cast<uint16_t>(name.size()), static_cast<uint8_t>(file_type)});
  names_.append(name);
  return {};
}

uint32_t DirectoryBlocks::Find(uint32_t dir, std::string_view name) const {
  auto it = directories_.find(dir);
  if (it == directories_.end()) return 0;
  for (const Name& one : it->second.names) {
    if (NameOf(one) == name) return one.ino;
  }
  return 0;
}

void DirectoryBlocks::Remove(uint32_t dir, std::string_view name) {
  auto it = directories_.find(dir);
  if (it == directories_.end()) return;
  std::erase_if(it->second.names, [&](const Name& one) { return NameOf(one) == name; });
}

void DirectoryBlocks::Forget(uint32_t dir) { directories_.erase(dir); }

Result<void> DirectoryBlocks::WriteAll(ext2_filsys fs, const Failure& fail) {
  // In inode order, so that where each directory's blocks go is the same every time.
  std::vector<uint32_t> inodes;
  for (const auto& [ino, dir] : directories_) {
    if (!dir.names.empty()) inodes.push_back(ino);
  }
  std::sort(inodes.begin(), inodes.end());
  for (uint32_t ino : inodes) BANGER_TRY(Write(fs, ino, directories_.at(ino), fail));
  return {};
}

Result<void> DirectoryBlocks::Write(ext2_filsys fs, uint32_t ino, const Directory& dir, const Failure& fail) {
  const unsigned block_size = fs->blocksize;
  const bool csum = ext2fs_has_feature_metadata_csum(fs->super);
  const unsigned room = block_size - (csum ? sizeof(ext2_dir_entry_tail) : 0);
  const unsigned dx_tail = csum ? sizeof(ext2_dx_tail) : 0;
  const unsigned root_limit = (block_size - kRootHeader - dx_tail) / sizeof(ext2_dx_entry);
  const unsigned node_limit = (block_size - kNodeHeader - dx_tail) / sizeof(ext2_dx_entry);

  unsigned linear = 24;
  for (const Name& name : dir.names) linear += RecordLength(name.length);
  const bool indexed = linear > room;

  // The order names are laid out in: as they came for one linear block, else by hash.
  std::vector<uint32_t> order(dir.names.size());
  std::iota(order.begin(), order.end(), 0);
  std::vector<std::pair<uint32_t, uint32_t>> hashes;  // (hash, minor), by name index
  std::vector<Leaf> leaves;
  int hash_version = fs->super->s_def_hash_version;
  if (hash_version <= EXT2_HASH_TEA && (fs->super->s_flags & EXT2_FLAGS_UNSIGNED_HASH)) hash_version += 3;
  if (indexed) {
    hashes.resize(dir.names.size());
    for (size_t i = 0; i < dir.names.size(); ++i) {
      BANGER_ASSIGN_OR_RETURN(hashes[i], NameHash(hash_version, NameOf(dir.names[i]), fs->super->s_hash_seed));
    }
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      if (hashes[a] != hashes[b]) return hashes[a] < hashes[b];
      return NameOf(dir.names[a]) < NameOf(dir.names[b]);
    });
    unsigned used = room;
    for (size_t i = 0; i < order.size(); ++i) {
      const unsigned length = RecordLength(dir.names[order[i]].length);
      if (used + length > room) {
        const uint32_t hash = hashes[order[i]].first;
        const bool continues = i > 0 && hashes[order[i - 1]].first == hash;
        leaves.push_back({i, 0, leaves.empty() ? 0 : (continues ? hash | 1 : hash)});
        used = 0;
      }
      leaves.back().count++;
      used += length;
    }
  } else {
    leaves.push_back({0, order.size(), 0});
  }
  const size_t nodes = !indexed || leaves.size() <= root_limit ? 0 : (leaves.size() + node_limit - 1) / node_limit;
  if (nodes > root_limit) {
    return Error{ErrorCode::kOversized, "a directory of " + std::to_string(dir.names.size()) +
                                            " names needs more than the two index levels banger writes"};
  }
  const uint64_t blocks = indexed ? 1 + nodes + leaves.size() : 1;

  ext2_inode inode;
  errcode_t rc = ext2fs_read_inode(fs, ino, &inode);
  if (rc) return fail(rc, "reading a directory");
  // Only the first block (from ext2fs_mkdir) stays; /lost+found had more.
  if (EXT2_I_SIZE(&inode) > block_size && (rc = ext2fs_punch(fs, ino, &inode, nullptr, 1, ~0ULL))) {
    return fail(rc, "trimming a directory");
  }
  if (blocks > 1 && (rc = ext2fs_fallocate(fs, EXT2_FALLOCATE_FORCE_INIT, ino, &inode, ~0ULL, 1, blocks - 1))) {
    return fail(rc, "allocating a directory's blocks");
  }
  if ((rc = ext2fs_inode_size_set(fs, &inode, blocks * block_size))) return fail(rc, "sizing a directory");
  if (indexed) inode.i_flags |= EXT2_INDEX_FL;
  if ((rc = ext2fs_write_inode(fs, ino, &inode))) return fail(rc, "writing a directory");

  std::vector<char> block(block_size);
  auto write = [&](blk64_t logical) -> Result<void> {
    blk64_t physical = 0;
    errcode_t rc = ext2fs_bmap2(fs, ino, &inode, nullptr, 0, logical, nullptr, &physical);
    if (!rc && physical == 0) rc = EXT2_ET_BLOCK_ALLOC_FAIL;
    if (!rc) rc = ext2fs_write_dir_block4(fs, physical, block.data(), 0, ino);
    if (rc) return fail(rc, "writing a directory block");
    return {};
  };
  // Names from `leaf` into `block` at `at`, the last one reaching the end of the room.
  auto put_names = [&](const Leaf& leaf, unsigned at) {
    for (size_t i = 0; i < leaf.count; ++i) {
      const Name& name = dir.names[order[leaf.first + i]];
      const unsigned length = i + 1 == leaf.count ? room - at : RecordLength(name.length);
      PutEntry(fs, block.data() + at, name.ino, NameOf(name), name.file_type, length);
      at += length;
    }
    if (csum) ext2fs_initialize_dirent_tail(fs, EXT2_DIRENT_TAIL(block.data(), block_size));
  };
  std::fill(block.begin(), block.end(), '\0');
  PutEntry(fs, block.data(), ino, ".", EXT2_FT_DIR, 12);
  if (!indexed) {
    PutEntry(fs, block.data() + 12, dir.parent, "..", EXT2_FT_DIR, 12);
    put_names(leaves.front(), 24);
    return write(0);
  }
  // The root: "..", the index's header, then one entry per node or leaf (the first
  // entry's hash slot holds the count and limit; its hash is implicitly 0).
  PutEntry(fs, block.data() + 12, dir.parent, "..", EXT2_FT_DIR, block_size - 12);
  auto* info = reinterpret_cast<ext2_dx_root_info*>(block.data() + 24);
  info->hash_version = static_cast<__u8>(fs->super->s_def_hash_version);
  info->info_length = 8;
  info->indirect_levels = nodes > 0 ? 1 : 0;
  auto index = [&](unsigned at, unsigned limit, size_t count, auto entry_of) {
    auto* entries = reinterpret_cast<ext2_dx_entry*>(block.data() + at);
    for (size_t i = 0; i < count; ++i) entries[i] = entry_of(i);
    auto* countlimit = reinterpret_cast<ext2_dx_countlimit*>(entries);
    countlimit->limit = static_cast<__u16>(limit);
    countlimit->count = static_cast<__u16>(count);
  };
  const size_t first_leaf_block = 1 + nodes;
  if (nodes == 0) {
    index(kRootHeader, root_limit, leaves.size(), [&](size_t i) {
      return ext2_dx_entry{leaves[i].start_hash, static_cast<__u32>(first_leaf_block + i)};
    });
  } else {
    index(kRootHeader, root_limit, nodes, [&](size_t i) {
      return ext2_dx_entry{leaves[i * node_limit].start_hash, static_cast<__u32>(1 + i)};
    });
  }
  BANGER_TRY(write(0));
  for (size_t n = 0; n < nodes; ++n) {
    std::fill(block.begin(), block.end(), '\0');
    auto* empty = reinterpret_cast<ext2_dir_entry*>(block.data());
    ext2fs_set_rec_len(fs, block_size, empty);
    const size_t first = n * node_limit, count = std::min<size_t>(node_limit, leaves.size() - first);
    index(kNodeHeader, node_limit, count, [&](size_t i) {
      return ext2_dx_entry{leaves[first + i].start_hash, static_cast<__u32>(first_leaf_block + first + i)};
    });
    BANGER_TRY(write(1 + n));
  }
  for (size_t l = 0; l < leaves.size(); ++l) {
    std::fill(block.begin(), block.end(), '\0');
    put_names(leaves[l], 0);
    BANGER_TRY(write(first_leaf_block + l));
  }
  return {};
}

}  // namespace banger::imager
