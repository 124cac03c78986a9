#include "unpacker/layer_tree.h"

#include <algorithm>
#include <deque>
#include <unordered_map>

namespace banger::unpacker {
namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";
constexpr std::string_view kMetaPrefix = ".wh..wh.";

// Printable form of a raw name for messages (bytes stay raw everywhere else).
std::string Shown(const std::string& path) {
  std::string out;
  for (unsigned char c : path.substr(0, 300)) {
    if (c < 0x20 || c == 0x7f || c == '\\') {
      static const char* kHex = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::vector<std::string> Split(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    if (slash > start) parts.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

}  // namespace

LayerTree::LayerTree(TreeLimits limits) : limits_(limits) {
  Inode root;
  root.kind = ipc::EntryKind::kDirectory;
  root.mode = 0755;
  root.names = 1;
  inodes_.push_back(std::move(root));
  Node node;
  node.live = true;
  node.children = std::make_unique<std::map<std::string, NodeId>>();
  nodes_.push_back(std::move(node));
}

void LayerTree::BeginLayer(uint32_t index, std::string layer) {
  layer_index_ = index;
  layer_name_ = std::move(layer);
}

Error LayerTree::Fail(const std::string& path, const std::string& what) const {
  return Error{ErrorCode::kMalformed, layer_name_ + ": '" + Shown(path) + "': " + what};
}

Result<std::vector<std::string>> LayerTree::Components(const std::string& path) const {
  if (path.size() > limits_.max_path_bytes) {
    return Fail(path, "path of " + std::to_string(path.size()) + " bytes exceeds " +
                          std::to_string(limits_.max_path_bytes));
  }
  std::vector<std::string> out;
  for (std::string& part : Split(path)) {
    if (part == ".") continue;
    if (part == "..") {
      if (!out.empty()) out.pop_back();  // clamped at the image root
      continue;
    }
    if (part.size() > limits_.max_component_bytes) {
      return Fail(path, "a name component of " + std::to_string(part.size()) + " bytes exceeds " +
                            std::to_string(limits_.max_component_bytes));
    }
    out.push_back(std::move(part));
  }
  if (out.size() > limits_.max_depth) {
    return Fail(path, "deeper than " + std::to_string(limits_.max_depth) + " directories");
  }
  return out;
}

LayerTree::NodeId LayerTree::Lookup(NodeId dir, const std::string& name) const {
  const auto& children = nodes_[dir].children;
  if (!children) return kNone;
  auto it = children->find(name);
  return it == children->end() ? kNone : it->second;
}

std::string LayerTree::PathOf(NodeId node) const {
  std::vector<const std::string*> names;
  for (NodeId n = node; n != kRoot && n != kNone; n = nodes_[n].parent) names.push_back(&nodes_[n].name);
  std::string path;
  for (auto it = names.rbegin(); it != names.rend(); ++it) path += "/" + **it;
  return path.empty() ? "/" : path;
}

std::optional<ipc::EntryKind> LayerTree::KindAt(const std::string& path, bool follow_final) {
  std::string current = path;
  for (int hops = 0; hops <= limits_.max_symlink_hops; ++hops) {
    auto components = Components(current);
    if (!components) return std::nullopt;
    if (components->empty()) return ipc::EntryKind::kDirectory;
    // A parent that is missing, not a directory or a symlink loop: nothing reachable there.
    auto dir = WalkDirectories(*components, components->size() - 1, /*create_missing=*/false);
    if (!dir) return std::nullopt;
    const NodeId node = Lookup(*dir, components->back());
    if (node == kNone) return std::nullopt;
    const Inode& inode = inodes_[nodes_[node].inode];
    if (inode.kind != ipc::EntryKind::kSymlink || !follow_final) return inode.kind;
    current = inode.link_target[0] == '/' ? inode.link_target : PathOf(*dir) + "/" + inode.link_target;
  }
  return std::nullopt;
}

bool LayerTree::IsDirectory(NodeId node) const {
  return inodes_[nodes_[node].inode].kind == ipc::EntryKind::kDirectory;
}

bool LayerTree::IsWithin(NodeId node, NodeId ancestor) const {
  for (NodeId n = node; n != kNone; n = nodes_[n].parent) {
    if (n == ancestor) return true;
  }
  return false;
}

LayerTree::InodeId LayerTree::NewInode(Inode inode) {
  if (!free_inodes_.empty()) {
    InodeId id = free_inodes_.back();
    free_inodes_.pop_back();
    inodes_[id] = std::move(inode);
    return id;
  }
  inodes_.push_back(std::move(inode));
  return static_cast<InodeId>(inodes_.size() - 1);
}

LayerTree::NodeId LayerTree::AddNode(NodeId parent, const std::string& name, InodeId inode) {
  NodeId id;
  if (!free_nodes_.empty()) {
    id = free_nodes_.back();
    free_nodes_.pop_back();
  } else {
    nodes_.emplace_back();
    id = static_cast<NodeId>(nodes_.size() - 1);
  }
  Node& node = nodes_[id];
  node.name = name;
  node.parent = parent;
  node.inode = inode;
  node.layer = layer_index_;
  node.live = true;
  node.children.reset();
  if (inodes_[inode].kind == ipc::EntryKind::kDirectory) node.children = std::make_unique<std::map<std::string, NodeId>>();
  inodes_[inode].names++;
  (*nodes_[parent].children)[name] = id;
  return id;
}

void LayerTree::Remove(NodeId node) {
  // Iteratively, so a deep tree cannot exhaust the stack.
  std::vector<NodeId> todo{node};
  std::vector<NodeId> order;
  while (!todo.empty()) {
    NodeId n = todo.back();
    todo.pop_back();
    order.push_back(n);
    if (nodes_[n].children) {
      for (const auto& [name, child] : *nodes_[n].children) todo.push_back(child);
    }
  }
  Node& top = nodes_[node];
  nodes_[top.parent].children->erase(top.name);
  for (NodeId n : order) {
    Node& dead = nodes_[n];
    Inode& inode = inodes_[dead.inode];
    if (--inode.names == 0) {
      inode = Inode{};
      free_inodes_.push_back(dead.inode);
    }
    dead.live = false;
    dead.children.reset();
    dead.name.clear();
    dead.name.shrink_to_fit();
    free_nodes_.push_back(n);
  }
}

void LayerTree::PruneLower(NodeId dir) {
  // Lower-layer children go; this layer's directories are pruned of their lower parts.
  std::vector<NodeId> todo{dir};
  while (!todo.empty()) {
    NodeId d = todo.back();
    todo.pop_back();
    std::vector<NodeId> doomed;
    for (const auto& [name, child] : *nodes_[d].children) {
      if (nodes_[child].layer < layer_index_) {
        doomed.push_back(child);
      } else if (IsDirectory(child)) {
        todo.push_back(child);
      }
    }
    for (NodeId child : doomed) Remove(child);
  }
}

Result<LayerTree::NodeId> LayerTree::WalkDirectories(const std::vector<std::string>& components, size_t count,
                                                     bool create_missing) {
  std::vector<NodeId> stack{kRoot};
  std::deque<std::string> todo(components.begin(), components.begin() + static_cast<long>(count));
  int hops = 0;
  auto joined = [&] {
    std::string p;
    for (size_t i = 0; i < count; ++i) p += "/" + components[i];
    return p;
  };
  while (!todo.empty()) {
    std::string part = std::move(todo.front());
    todo.pop_front();
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (stack.size() > 1) stack.pop_back();
      continue;
    }
    NodeId child = Lookup(stack.back(), part);
    if (child == kNone) {
      if (!create_missing) return Error{ErrorCode::kNotFound, layer_name_ + ": '" + Shown(joined()) + "' does not exist in the image"};
      // A parent the layer never declared: created as docker does, 0755 root:root.
      Inode dir;
      dir.kind = ipc::EntryKind::kDirectory;
      child = AddNode(stack.back(), part, NewInode(std::move(dir)));
    }
    const Inode& inode = inodes_[nodes_[child].inode];
    if (inode.kind == ipc::EntryKind::kSymlink) {
      if (++hops > limits_.max_symlink_hops) {
        return Fail(joined(), "more than " + std::to_string(limits_.max_symlink_hops) +
                                  " symlinks to follow (a loop?)");
      }
      if (!inode.link_target.empty() && inode.link_target[0] == '/') stack.resize(1);
      std::vector<std::string> target = Split(inode.link_target);
      todo.insert(todo.begin(), target.begin(), target.end());
      continue;
    }
    if (inode.kind != ipc::EntryKind::kDirectory) {
      return Fail(joined(), "a parent component, '" + Shown(part) + "', is a " + ipc::EntryKindName(inode.kind) +
                                " in the image, not a directory");
    }
    // A directory this layer writes into belongs to this layer too, so its new children
    // survive an opaque marker or whiteout of the same layer wherever that stands.
    if (create_missing) nodes_[child].layer = layer_index_;
    stack.push_back(child);
    if (stack.size() > limits_.max_depth + 1) {
      return Fail(joined(), "resolves deeper than " + std::to_string(limits_.max_depth) + " directories");
    }
  }
  return stack.back();
}

void LayerTree::SetAttributes(Inode& inode, const TarEntry& entry) const {
  inode.mode = entry.mode & 07777;
  inode.uid = entry.uid;
  inode.gid = entry.gid;
  inode.mtime = entry.mtime;
  inode.atime = entry.atime;
  inode.ctime = entry.ctime;
  inode.xattrs = entry.xattrs;
}

Result<void> LayerTree::ApplyWhiteout(const std::vector<std::string>& components) {
  const std::string& base = components.back();
  auto dir = WalkDirectories(components, components.size() - 1, /*create_missing=*/false);
  if (!dir) {
    if (dir.error().code == ErrorCode::kNotFound) return {};  // nothing below to hide
    return dir.error();
  }
  if (base == kOpaqueMarker) {
    PruneLower(*dir);
    return {};
  }
  if (base.rfind(kMetaPrefix, 0) == 0) return {};  // aufs bookkeeping (.wh..wh.plnk and the like)
  const std::string name = base.substr(kWhiteoutPrefix.size());
  if (name.empty() || name == "." || name == "..") return {};
  NodeId victim = Lookup(*dir, name);
  if (victim == kNone) return {};
  // A whiteout hides lower layers only: what this layer made stays.
  if (nodes_[victim].layer < layer_index_) {
    Remove(victim);
  } else if (IsDirectory(victim)) {
    PruneLower(victim);
  }
  return {};
}

Result<void> LayerTree::Apply(const TarEntry& entry, const DataReader& read_data) {
  if (++entries_seen_ > limits_.max_entries) {
    return Error{ErrorCode::kOversized, layer_name_ + ": more than " + std::to_string(limits_.max_entries) +
                                            " entries in the image (the entry bound)"};
  }
  BANGER_ASSIGN_OR_RETURN(std::vector<std::string> components, Components(entry.path));
  size_t xattr_bytes = 0;
  for (const auto& x : entry.xattrs) {
    xattr_bytes += x.name.size() + x.value.size();
    if (x.name.empty() || x.name.size() > 255) return Fail(entry.path, "an xattr name is empty or longer than 255 bytes");
  }
  if (xattr_bytes > limits_.max_xattr_bytes) {
    return Fail(entry.path, "xattrs of " + std::to_string(xattr_bytes) + " bytes; Linux and ext4 hold at most " +
                                std::to_string(limits_.max_xattr_bytes));
  }
  if (entry.kind == ipc::EntryKind::kSymlink && (entry.symlink_target.empty() || entry.symlink_target.size() > 4095)) {
    return Fail(entry.path, "a symlink target must have 1 to 4095 bytes");
  }

  if (components.empty()) {  // the image root itself ("./")
    if (entry.kind == ipc::EntryKind::kDirectory && !entry.hardlink) {
      SetAttributes(inodes_[nodes_[kRoot].inode], entry);
    } else {
      warnings_.push_back(layer_name_ + ": ignored a non-directory entry for the image root");
    }
    return {};
  }
  const std::string& base = components.back();
  if (base.rfind(kWhiteoutPrefix, 0) == 0) return ApplyWhiteout(components);

  BANGER_ASSIGN_OR_RETURN(NodeId parent, WalkDirectories(components, components.size() - 1, /*create_missing=*/true));
  NodeId existing = Lookup(parent, base);

  if (entry.hardlink) {
    BANGER_ASSIGN_OR_RETURN(std::vector<std::string> target_path, Components(*entry.hardlink));
    if (target_path.empty()) return Fail(entry.path, "hardlink to the image root");
    auto target_dir = WalkDirectories(target_path, target_path.size() - 1, /*create_missing=*/false);
    NodeId target = target_dir ? Lookup(*target_dir, target_path.back()) : kNone;
    if (target == kNone) {
      return Fail(entry.path, "hardlink to '" + Shown(*entry.hardlink) + "', which is not in the image");
    }
    if (target == existing) return Fail(entry.path, "hardlink to itself");
    if (IsDirectory(target)) return Fail(entry.path, "hardlink to a directory");
    if (existing != kNone && IsWithin(target, existing)) {
      return Fail(entry.path, "hardlink to '" + Shown(*entry.hardlink) + "', which this entry replaces");
    }
    if (existing != kNone) Remove(existing);
    AddNode(parent, base, nodes_[target].inode);
    return {};
  }

  if (entry.kind == ipc::EntryKind::kDirectory && existing != kNone && IsDirectory(existing)) {
    SetAttributes(inodes_[nodes_[existing].inode], entry);  // dir over dir: attributes merge
    nodes_[existing].layer = layer_index_;
    return {};
  }
  // Any other type change replaces, subtree and all; a hardlinked name gets a new inode,
  // so the other names keep the old one.
  if (existing != kNone) Remove(existing);
  Inode inode;
  inode.kind = entry.kind;
  SetAttributes(inode, entry);
  inode.rdev_major = entry.rdev_major;
  inode.rdev_minor = entry.rdev_minor;
  inode.link_target = entry.symlink_target;
  if (entry.kind == ipc::EntryKind::kRegular) {
    inode.size = entry.size;
    BANGER_ASSIGN_OR_RETURN(inode.extents, read_data());
  }
  AddNode(parent, base, NewInode(std::move(inode)));
  return {};
}

ipc::TreeSummary LayerTree::Summarize() const {
  ipc::TreeSummary s;
  std::vector<bool> counted(inodes_.size(), false);
  for (const Node& node : nodes_) {
    if (!node.live) continue;
    ++s.entries;
    const Inode& inode = inodes_[node.inode];
    if (node.children) s.largest_directory = std::max<uint64_t>(s.largest_directory, node.children->size());
    if (counted[node.inode]) continue;
    counted[node.inode] = true;
    ++s.inodes;
    if (inode.kind == ipc::EntryKind::kDirectory) ++s.directories;
    if (inode.kind == ipc::EntryKind::kRegular) s.apparent_bytes += inode.size;
    for (const auto& x : inode.extents) s.data_bytes += x.length;
    s.metadata_bytes += inode.link_target.size();
    for (const auto& x : inode.xattrs) s.metadata_bytes += x.name.size() + x.value.size();
  }
  return s;
}

Result<void> LayerTree::Emit(ipc::TreeStreamWriter& out) const {
  BANGER_TRY(out.WriteSummary(Summarize()));
  std::unordered_map<InodeId, uint64_t> emitted;  // our inode -> its number in the stream
  uint64_t next_inode = ipc::kRootInode;
  // Depth-first, children in byte order; each directory's number is known before its children.
  std::vector<std::pair<NodeId, uint64_t>> todo{{kRoot, 0}};
  while (!todo.empty()) {
    auto [id, parent_number] = todo.back();
    todo.pop_back();
    const Node& node = nodes_[id];
    const Inode& inode = inodes_[node.inode];
    ipc::TreeEntry e;
    e.parent = parent_number;
    e.name = node.name;
    auto seen = emitted.find(node.inode);
    if (seen != emitted.end()) {
      e.kind = ipc::EntryKind::kHardlink;
      e.inode = seen->second;
    } else {
      e.inode = next_inode++;
      emitted.emplace(node.inode, e.inode);
      e.kind = inode.kind;
      e.mode = inode.mode;
      e.uid = inode.uid;
      e.gid = inode.gid;
      e.mtime = inode.mtime;
      e.atime = inode.atime;
      e.ctime = inode.ctime;
      e.size = inode.size;
      e.rdev_major = inode.rdev_major;
      e.rdev_minor = inode.rdev_minor;
      e.link_target = inode.link_target;
      e.xattrs = inode.xattrs;
      e.extents = inode.extents;
      if (node.children) e.children = node.children->size();
    }
    BANGER_TRY(out.Write(e));
    if (node.children && e.kind == ipc::EntryKind::kDirectory) {
      for (auto it = node.children->rbegin(); it != node.children->rend(); ++it) todo.emplace_back(it->second, e.inode);
    }
  }
  return out.Finish();
}

}  // namespace banger::unpacker
