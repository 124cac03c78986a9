// The image's tree as layers are replayed over it (OCI image-spec layer.md), held in
// memory; file bytes live in the spool. Paths resolve with chroot semantics inside the
// image: `..` clamps at its root, absolute names start at its root, and symlinks met on
// the way are followed inside the tree, never on the host (invariant I5).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ipc/result.h"
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

  // Things skipped on purpose, for the user to see.
  const std::vector<std::string>& warnings() const { return warnings_; }

  ipc::TreeSummary Summarize() const;
  // Summary, then every name depth-first with children in byte order, then the end marker.
  Result<void> Emit(ipc::TreeStreamWriter& out) const;

 private:
  using NodeId = uint32_t;
  using InodeId = uint32_t;
  static constexpr NodeId kNone = 0xffffffff;
  static constexpr NodeId kRoot = 0;

  struct Inode {
    ipc::EntryKind kind = ipc::EntryKind::kDirectory;
    uint32_t mode = 0755, uid = 0, gid = 0;
    ipc::Timestamp mtime, atime, ctime;
    uint64_t size = 0;
    uint32_t rdev_major = 0, rdev_minor = 0;
    std::string link_target;
    std::vector<ipc::Xattr> xattrs;
    std::vector<ipc::Extent> extents;
    uint32_t names = 0;
  };
  struct Node {
    std::string name;
    NodeId parent = kNone;
    InodeId inode = 0;
    uint32_t layer = 0;
    std::unique_ptr<std::map<std::string, NodeId>> children;  // directories only
    bool live = false;
  };

  // Lexically cleaned components; `..` above the root is dropped.
  Result<std::vector<std::string>> Components(const std::string& path) const;
  // Walks `components` as directories, following symlinks inside the tree.
  Result<NodeId> WalkDirectories(const std::vector<std::string>& components, size_t count, bool create_missing);
  NodeId Lookup(NodeId dir, const std::string& name) const;
  std::string PathOf(NodeId node) const;
  bool IsDirectory(NodeId node) const;
  bool IsWithin(NodeId node, NodeId ancestor) const;
  NodeId AddNode(NodeId parent, const std::string& name, InodeId inode);
  InodeId NewInode(Inode inode);
  void Remove(NodeId node);
  void PruneLower(NodeId dir);
  void SetAttributes(Inode& inode, const TarEntry& entry) const;
  Result<void> ApplyWhiteout(const std::vector<std::string>& components);
  Error Fail(const std::string& path, const std::string& what) const;

  TreeLimits limits_;
  std::vector<Node> nodes_;
  std::vector<NodeId> free_nodes_;
  std::vector<Inode> inodes_;
  std::vector<InodeId> free_inodes_;
  uint32_t layer_index_ = 0;
  std::string layer_name_;
  uint64_t entries_seen_ = 0;
  std::vector<std::string> warnings_;
};

}  // namespace banger::unpacker
