// The image's tree as layers are replayed over it (OCI image-spec layer.md), held in
// memory; file bytes live in the spool. Paths resolve with chroot semantics inside the
// image: `..` clamps at its root, absolute names start at its root, and symlinks met on
// the way are followed inside the tree, never on the host (invariant I5).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "ipc/tree_stream.h"
#include "unpacker/tar_reader.h"

namespace banger::unpacker {

struct TreeLimits {
  uint64_t max_entries = 10'000'000;  // entries across all layers
  size_t max_path_bytes = 4096;
  size_t max_depth = 4096;            // directories deep
  size_t max_component_bytes = 255;
  size_t max_xattr_bytes = 65536;     // per entry, as Linux's XATTR_SIZE_MAX
  int max_symlink_hops = 40;
};

class LayerTree {
 public:
  explicit LayerTree(TreeLimits limits = {});

  // Entries after this belong to layer `index` (0 = the oldest); errors name `layer`.
  void BeginLayer(uint32_t index, std::string layer);

  // Applies one entry. For regular files `read_data` is called once and returns the
  // file's extents in the spool.
  using DataReader = std::function<Result<std::vector<ipc::Extent>>()>;
  Result<void> Apply(const TarEntry& entry, const DataReader& read_data);

  // What `path` names in the tree now, symlinks in its parents followed inside the
  // image (and a final symlink too when `follow_final`); nullopt when nothing is there.
  std::optional<ipc::EntryKind> KindAt(const std::string& path, bool follow_final);

  // The directory `path` names (symlinks followed inside the image) and every directory
  // above it made root-owned and not group- or world-writable, without a POSIX ACL, for
  // files that run as root to sit under. One line per directory changed: "/usr/local/libexec (was 0777 1000:1000)".
  std::vector<std::string> MakeRootOnly(const std::string& path);

  // Entries after this belong to no layer any more: aufs's hardlink directory of the
  // layer (.wh..wh.plnk) is dropped, and its files live on only through their links.
  void EndLayer();

  // Things skipped or adjusted on purpose, for the user to see: one line per kind of
  // adjustment and image, naming the first path.
  std::vector<std::string> warnings() const;

  ipc::TreeSummary Summarize() const;
  // Summary, then every name depth-first with children in byte order, then the end marker.
  Result<void> Emit(ipc::TreeStreamWriter& out) const;

 private:
  using NodeId = uint32_t;
  using InodeId = uint32_t;
  static constexpr NodeId kNone = 0xffffffff;
  static constexpr NodeId kRoot = 0;

  // Grows a block at a time, so growing never copies what is there nor holds two
  // copies at once (a vector's doubling did, and set the peak on large images). Freed
  // slots are handed out again before it grows.
  template <typename T>
  class Blocks {
   public:
    T& operator[](uint32_t i) { return blocks_[i >> kShift][i & kMask]; }
    const T& operator[](uint32_t i) const { return blocks_[i >> kShift][i & kMask]; }
    uint32_t size() const { return size_; }
    // A slot holding `value`: a freed one if there is one, else a new one.
    uint32_t Take(T value) {
      uint32_t i;
      if (!free_.empty()) {
        i = free_.back();
        free_.pop_back();
      } else {
        if ((size_ & kMask) == 0) blocks_.push_back(std::make_unique<T[]>(kMask + 1));
        i = size_++;
      }
      (*this)[i] = std::move(value);
      return i;
    }
    void Free(uint32_t i) { free_.push_back(i); }

   private:
    static constexpr uint32_t kShift = 10, kMask = (1u << kShift) - 1;
    std::vector<std::unique_ptr<T[]>> blocks_;
    std::vector<uint32_t> free_;
    uint32_t size_ = 0;
  };

  // What few inodes have, kept out of line so the common file pays 8 bytes for it.
  struct Extras {
    std::string link_target;
    std::vector<ipc::Xattr> xattrs;
    std::vector<ipc::Extent> extents;  // when the data is not one extent at offset 0
    ipc::Timestamp atime, ctime;       // when they differ from mtime
    uint32_t rdev_major = 0, rdev_minor = 0;
  };
  enum InodeFlags : uint8_t { kOneExtent = 1, kOwnAtime = 2, kOwnCtime = 4 };
  // Widest fields first, so the common case packs into one cache line.
  struct Inode {
    uint64_t size = 0;
    int64_t mtime_sec = 0;
    uint64_t extent_length = 0, extent_spool_offset = 0;  // with kOneExtent, at file offset 0
    std::unique_ptr<Extras> extras;
    uint32_t mtime_nsec = 0, uid = 0, gid = 0;
    uint32_t names = 0;
    uint32_t layer = 0;  // the layer that last set the attributes
    uint16_t mode = 0755;
    ipc::EntryKind kind = ipc::EntryKind::kDirectory;
    uint8_t flags = 0;
  };
  static_assert(sizeof(void*) != 8 || sizeof(Inode) == 64);
  // Names are stored once, in names_; a directory's children are a list in no order,
  // found by name through slots_ and sorted only when emitted.
  struct Node {
    uint32_t name_offset = 0;
    uint16_t name_size = 0;
    bool live = false;
    NodeId parent = kNone;
    InodeId inode = 0;
    uint32_t layer = 0;
    NodeId first_child = kNone, next_sibling = kNone, prev_sibling = kNone;
  };

  // Notes given once per image: the first one in full, the rest counted.
  struct Notice {
    std::string first;
    uint64_t more = 0;
  };

  // Lexically cleaned components; `..` above the root is dropped.
  Result<std::vector<std::string>> Components(const std::string& path) const;
  // Walks `components` as directories, following symlinks inside the tree.
  Result<NodeId> WalkDirectories(const std::vector<std::string>& components, size_t count, bool create_missing);
  std::string_view NameOf(NodeId node) const;
  static const std::string& LinkOf(const Inode& inode);
  uint64_t Hash(NodeId parent, std::string_view name) const;
  NodeId Lookup(NodeId dir, std::string_view name) const;
  void InsertSlot(NodeId node);
  void EraseSlot(NodeId node);
  void GrowSlots();
  void CompactNames();
  std::string PathOf(NodeId node) const;
  bool IsDirectory(NodeId node) const;
  bool IsWithin(NodeId node, NodeId ancestor) const;
  Result<NodeId> AddNode(NodeId parent, const std::string& name, InodeId inode);
  InodeId NewInode(Inode inode);
  // One name (or the .wh..wh.plnk hold) less; the inode is freed with its last.
  void DropName(InodeId id);
  void Remove(NodeId node);
  void PruneLower(NodeId dir);
  struct Times {
    ipc::Timestamp mtime, atime, ctime;
  };
  // The entry's times as ext4 keeps them (clamped as the kernel clamps), noted for the user.
  Times FitTimes(const TarEntry& entry);
  void SetAttributes(Inode& inode, const TarEntry& entry, const Times& times) const;
  Result<void> ApplyWhiteout(const std::vector<std::string>& components);
  // aufs's bookkeeping at the image root (.wh..wh.plnk, .wh..wh.aufs, .wh..wh.orph).
  Result<void> ApplyAufsMetadata(const TarEntry& entry, const std::vector<std::string>& components,
                                 const DataReader& read_data);
  Result<void> AddHardlink(const TarEntry& entry, NodeId parent, const std::string& base, NodeId existing);
  Result<InodeId> NewInodeFor(const TarEntry& entry, const DataReader& read_data);
  uint32_t NamesOf(InodeId inode) const;  // without the hold of .wh..wh.plnk
  static void Note(Notice& notice, const std::string& text);
  Error Fail(const std::string& path, const std::string& what) const;

  TreeLimits limits_;
  Blocks<Node> nodes_;
  Blocks<Inode> inodes_;
  std::string names_;        // every live name, back to back, and the dead ones until compacted
  uint64_t dead_name_bytes_ = 0;
  std::vector<NodeId> slots_;  // (parent, name) -> node: open addressing, linear probing
  uint32_t used_slots_ = 0;
  uint64_t hash_key_[2] = {};
  uint32_t layer_index_ = 0;
  std::string layer_name_;
  uint64_t entries_seen_ = 0;
  std::vector<std::string> warnings_;
  Notice clamped_times_, fsck_times_, skipped_;
  // The current layer's files in .wh..wh.plnk, by name: each holds one name's worth of
  // references until EndLayer.
  std::vector<std::pair<std::string, InodeId>> aufs_links_;
};

}  // namespace banger::unpacker
