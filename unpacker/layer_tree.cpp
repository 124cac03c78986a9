#include "unpacker/layer_tree.h"

#include <sys/auxv.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <deque>
#include <limits>

#include "ipc/ext4_limits.h"
#include "base/text.h"
#include "unpacker/whiteout_names.h"

namespace banger::unpacker {
namespace {

// Node::name_size holds no more; ext4 and the tree stream stop at 255 anyway.
constexpr size_t kMaxNameBytes = std::numeric_limits<uint16_t>::max();
constexpr uint32_t kFirstSlots = 1024;  // a power of two

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
  // AT_RANDOM: 16 bytes the kernel gives every process at exec, read without a syscall.
  if (const auto* random = reinterpret_cast<const unsigned char*>(getauxval(AT_RANDOM))) {
    std::memcpy(hash_key_, random, sizeof(hash_key_));
  }
  inodes_[inodes_.Take(Inode{})].names = 1;  // the root: a directory, 0755 root:root
  nodes_[nodes_.Take(Node{})].live = true;
  slots_.assign(kFirstSlots, kNone);
}

void LayerTree::BeginLayer(uint32_t index, std::string layer) {
  EndLayer();
  layer_index_ = index;
  layer_name_ = std::move(layer);
}

void LayerTree::Note(Notice& notice, const std::string& text) {
  if (notice.first.empty()) {
    notice.first = text;
  } else {
    ++notice.more;
  }
}

std::vector<std::string> LayerTree::warnings() const {
  std::vector<std::string> out = warnings_;
  for (const Notice* notice : {&clamped_times_, &fsck_times_, &skipped_}) {
    if (notice->first.empty()) continue;
    out.push_back(notice->first +
                  (notice->more > 0 ? " (and " + std::to_string(notice->more) + " more entries like it)" : ""));
  }
  return out;
}

Error LayerTree::Fail(const std::string& path, const std::string& what) const {
  return Error{ErrorCode::kMalformed, layer_name_ + ": '" + Printable(path) + "': " + what};
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
    if (const size_t most = std::min(limits_.max_component_bytes, kMaxNameBytes); part.size() > most) {
      return Fail(path, "a name component of " + std::to_string(part.size()) + " bytes exceeds " +
                            std::to_string(most));
    }
    out.push_back(std::move(part));
  }
  if (out.size() > limits_.max_depth) {
    return Fail(path, "deeper than " + std::to_string(limits_.max_depth) + " directories");
  }
  return out;
}

const std::string& LayerTree::LinkOf(const Inode& inode) {
  static const std::string kEmpty;
  return inode.extras ? inode.extras->link_target : kEmpty;
}

std::string LayerTree::PathOf(NodeId node) const {
  std::vector<std::string_view> names;
  for (NodeId n = node; n != kRoot && n != kNone; n = nodes_[n].parent) names.push_back(NameOf(n));
  std::string path;
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    path += '/';
    path += *it;
  }
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
    const std::string& target = LinkOf(inode);
    current = target[0] == '/' ? target : PathOf(*dir) + "/" + target;
  }
  return std::nullopt;
}

std::vector<std::string> LayerTree::MakeRootOnly(const std::string& path) {
  std::vector<std::string> changed;
  auto components = Components(path);
  if (!components) return changed;
  auto dir = WalkDirectories(*components, components->size(), /*create_missing=*/false);
  if (!dir) return changed;
  for (NodeId node = *dir; node != kNone; node = nodes_[node].parent) {
    Inode& inode = inodes_[nodes_[node].inode];
    if (inode.kind != ipc::EntryKind::kDirectory) break;
    // A POSIX ACL may name users; the default one is what new entries below inherit.
    std::vector<ipc::Xattr> none;
    std::vector<ipc::Xattr>& xattrs = inode.extras ? inode.extras->xattrs : none;
    const auto acl = std::remove_if(xattrs.begin(), xattrs.end(), [](const ipc::Xattr& x) {
      return x.name == "system.posix_acl_access" || x.name == "system.posix_acl_default";
    });
    const bool had_acl = acl != xattrs.end();
    if (inode.uid == 0 && inode.gid == 0 && (inode.mode & 022) == 0 && !had_acl) continue;
    char was[80];
    std::snprintf(was, sizeof was, " (was %04o %u:%u%s)", static_cast<unsigned>(inode.mode & 07777), inode.uid,
                  inode.gid, had_acl ? " with a POSIX ACL" : "");
    changed.push_back((node == kRoot ? std::string("/") : PathOf(node)) + was);
    xattrs.erase(acl, xattrs.end());
    inode.uid = inode.gid = 0;
    inode.mode = static_cast<uint16_t>(inode.mode & ~022);
  }
  return changed;
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

void LayerTree::DropName(InodeId id) {
  if (--inodes_[id].names != 0) return;
  inodes_[id] = Inode{};
  inodes_.Free(id);
}

LayerTree::InodeId LayerTree::NewInode(Inode inode) { return inodes_.Take(std::move(inode)); }

Result<LayerTree::NodeId> LayerTree::AddNode(NodeId parent, const std::string& name, InodeId inode) {
  // Dead names are dropped once they are half the bytes, which keeps the cost amortized.
  if (dead_name_bytes_ > 65536 && dead_name_bytes_ * 2 > names_.size()) CompactNames();
  if (names_.size() + name.size() > std::numeric_limits<uint32_t>::max()) {
    CompactNames();
    if (names_.size() + name.size() > std::numeric_limits<uint32_t>::max()) {
      return Error{ErrorCode::kOversized, layer_name_ + ": the image's names exceed 4 GiB"};
    }
  }
  const NodeId id = nodes_.Take(Node{});
  Node& node = nodes_[id];
  node.name_offset = static_cast<uint32_t>(names_.size());
  node.name_size = static_cast<uint16_t>(name.size());
  names_ += name;
  node.parent = parent;
  node.inode = inode;
  node.layer = layer_index_;
  node.live = true;
  inodes_[inode].names++;
  Node& dir = nodes_[parent];
  node.next_sibling = dir.first_child;
  if (dir.first_child != kNone) nodes_[dir.first_child].prev_sibling = id;
  dir.first_child = id;
  InsertSlot(id);
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
    for (NodeId child = nodes_[n].first_child; child != kNone; child = nodes_[child].next_sibling) {
      todo.push_back(child);
    }
  }
  const Node& top = nodes_[node];
  if (top.prev_sibling != kNone) {
    nodes_[top.prev_sibling].next_sibling = top.next_sibling;
  } else {
    nodes_[top.parent].first_child = top.next_sibling;
  }
  if (top.next_sibling != kNone) nodes_[top.next_sibling].prev_sibling = top.prev_sibling;
  for (NodeId n : order) EraseSlot(n);  // while every parent and name is still in place
  for (NodeId n : order) {
    Node& dead = nodes_[n];
    DropName(dead.inode);
    dead_name_bytes_ += dead.name_size;
    dead = Node{};
    nodes_.Free(n);
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
      if (!create_missing) return Error{ErrorCode::kNotFound, layer_name_ + ": '" + Printable(joined()) + "' does not exist in the image"};
      // Reached through a symlink's target: the layer format keeps these names for whiteouts.
      if (IsWhiteoutName(part)) {
        return Fail(joined(), "would make a directory named '" + Printable(part) +
                                  "', a name the image format keeps for whiteouts");
      }
      // A parent the layer never declared: created as docker does, 0755 root:root.
      Inode dir;
      dir.kind = ipc::EntryKind::kDirectory;
      BANGER_ASSIGN_OR_RETURN(child, AddNode(stack.back(), part, NewInode(std::move(dir))));
    }
    const Inode& inode = inodes_[nodes_[child].inode];
    if (inode.kind == ipc::EntryKind::kSymlink) {
      if (++hops > limits_.max_symlink_hops) {
        return Fail(joined(), "more than " + std::to_string(limits_.max_symlink_hops) +
                                  " symlinks to follow (a loop?)");
      }
      const std::string& link = LinkOf(inode);
      if (!link.empty() && link[0] == '/') stack.resize(1);
      std::vector<std::string> target = Split(link);
      todo.insert(todo.begin(), target.begin(), target.end());
      continue;
    }
    if (inode.kind != ipc::EntryKind::kDirectory) {
      return Fail(joined(), "a parent component, '" + Printable(part) + "', is a " + ipc::EntryKindName(inode.kind) +
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

LayerTree::Times LayerTree::FitTimes(const TarEntry& entry) {
  Times times{entry.mtime, entry.atime, entry.ctime};
  bool noted = false;
  for (auto [field, time] : {std::pair{"mtime", &times.mtime}, {"atime", &times.atime}, {"ctime", &times.ctime}}) {
    const ipc::Timestamp fitted = ipc::ext4::ClampTime(*time);
    // Built only for a note: formatting it for every entry was a tenth of a small-file layer.
    auto where = [&, field = field, time = time] {
      return layer_name_ + ": '" + Printable(entry.path) + "': " + field + " " + UtcTime(time->sec);
    };
    if (fitted != *time) {
      if (!noted) {
        Note(clamped_times_, where() + " is outside what ext4 holds (" + UtcTime(ipc::ext4::kMinTime) + " to " +
                                 UtcTime(ipc::ext4::kMaxTime) + "), so it is clamped to " + UtcTime(fitted.sec) +
                                 " as the kernel clamps it");
      }
      noted = true;
      *time = fitted;
    } else if (ipc::ext4::FsckMisreadsTime(fitted) && !noted) {
      noted = true;
      Note(fsck_times_, where() + " is kept exactly, but e2fsck reads times from 2310-04-04 to 2378-04-22 as "
                                "pre-1970 ones (and `e2fsck -p` would rewrite it)");
    }
  }
  return times;
}

void LayerTree::SetAttributes(Inode& inode, const TarEntry& entry, const Times& times) const {
  inode.mode = static_cast<uint16_t>(entry.mode & 07777);
  inode.uid = entry.uid;
  inode.gid = entry.gid;
  inode.layer = layer_index_;
  inode.mtime_sec = times.mtime.sec;
  inode.mtime_nsec = times.mtime.nsec;
  inode.flags &= ~(kOwnAtime | kOwnCtime);
  if (times.atime != times.mtime || times.ctime != times.mtime || !entry.xattrs.empty()) {
    if (!inode.extras) inode.extras = std::make_unique<Extras>();
    if (times.atime != times.mtime) inode.flags |= kOwnAtime;
    if (times.ctime != times.mtime) inode.flags |= kOwnCtime;
  }
  if (inode.extras) {
    inode.extras->atime = times.atime;
    inode.extras->ctime = times.ctime;
    inode.extras->xattrs = entry.xattrs;
  }
}

Result<void> LayerTree::AddHardlink(const TarEntry& entry, NodeId parent, const std::string& base, NodeId existing) {
  BANGER_ASSIGN_OR_RETURN(std::vector<std::string> target_path, Components(*entry.hardlink));
  if (target_path.empty()) return Fail(entry.path, "hardlink to the image root");
  InodeId inode = 0;
  if (target_path[0] == kAufsLinkDir) {
    auto held = std::find_if(aufs_links_.begin(), aufs_links_.end(), [&](const auto& link) {
      return target_path.size() == 2 && link.first == target_path[1];
    });
    if (held == aufs_links_.end()) {
      return Fail(entry.path, "hardlink to '" + Printable(*entry.hardlink) + "' in aufs's " + std::string(kAufsLinkDir) +
                                  ", which this layer does not hold");
    }
    inode = held->second;
    if (existing != kNone) Remove(existing);
  } else {
    auto target_dir = WalkDirectories(target_path, target_path.size() - 1, /*create_missing=*/false);
    NodeId target = target_dir ? Lookup(*target_dir, target_path.back()) : kNone;
    if (target == kNone) {
      return Fail(entry.path, "hardlink to '" + Printable(*entry.hardlink) + "', which is not in the image");
    }
    if (target == existing) return Fail(entry.path, "hardlink to itself");
    if (IsDirectory(target)) return Fail(entry.path, "hardlink to a directory");
    if (existing != kNone && IsWithin(target, existing)) {
      return Fail(entry.path, "hardlink to '" + Printable(*entry.hardlink) + "', which this entry replaces");
    }
    inode = nodes_[target].inode;
    if (existing != kNone) Remove(existing);
  }
  // link(2) on ext4 fails with EMLINK here; the image cannot hold one more name.
  if (NamesOf(inode) >= ipc::ext4::kMaxLinks) {
    return Fail(entry.path, "hardlink to '" + Printable(*entry.hardlink) + "' would give it " +
                                std::to_string(NamesOf(inode) + 1) + " names; ext4 holds at most " +
                                std::to_string(ipc::ext4::kMaxLinks) + " links to one inode");
  }
  BANGER_TRY(AddNode(parent, base, inode));
  return {};
}

Result<LayerTree::InodeId> LayerTree::NewInodeFor(const TarEntry& entry, const DataReader& read_data) {
  Inode inode;
  inode.kind = entry.kind;
  if (entry.rdev_major != 0 || entry.rdev_minor != 0 || !entry.symlink_target.empty()) {
    inode.extras = std::make_unique<Extras>();
    inode.extras->rdev_major = entry.rdev_major;
    inode.extras->rdev_minor = entry.rdev_minor;
    inode.extras->link_target = entry.symlink_target;
  }
  SetAttributes(inode, entry, FitTimes(entry));
  if (entry.kind == ipc::EntryKind::kRegular) {
    inode.size = entry.size;
    BANGER_ASSIGN_OR_RETURN(std::vector<ipc::Extent> extents, read_data());
    if (extents.size() == 1 && extents[0].file_offset == 0) {
      inode.flags |= kOneExtent;
      inode.extent_length = extents[0].length;
      inode.extent_spool_offset = extents[0].spool_offset;
    } else if (!extents.empty()) {
      if (!inode.extras) inode.extras = std::make_unique<Extras>();
      inode.extras->extents = std::move(extents);
    }
  }
  return NewInode(std::move(inode));
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
  if (entry.kind == ipc::EntryKind::kSymlink &&
      (entry.symlink_target.empty() || entry.symlink_target.size() > ipc::ext4::kMaxSymlinkBytes)) {
    return Fail(entry.path, "a symlink target must have 1 to 4095 bytes");
  }

  if (components.empty()) {  // the image root itself ("./")
    if (entry.kind == ipc::EntryKind::kDirectory && !entry.hardlink) {
      SetAttributes(inodes_[nodes_[kRoot].inode], entry, FitTimes(entry));
    } else {
      warnings_.push_back(layer_name_ + ": ignored a non-directory entry for the image root");
    }
    return {};
  }
  if (components[0].rfind(kMetaPrefix, 0) == 0 && !(components.size() == 1 && components[0] == kOpaqueMarker)) {
    return ApplyAufsMetadata(entry, components, read_data);
  }
  // A name inside a whiteout-named directory: that directory is a whiteout, not a
  // directory, so its children have nowhere to go (moby would make `.wh.x/` for them).
  for (size_t i = 0; i + 1 < components.size(); ++i) {
    if (!IsWhiteoutName(components[i])) continue;
    Note(skipped_, layer_name_ + ": '" + Printable(entry.path) + "' is inside '" + Printable(components[i]) +
                       "', a whiteout, and was skipped");
    return {};
  }
  const std::string& base = components.back();
  if (IsWhiteoutName(base)) return ApplyWhiteout(components);

  BANGER_ASSIGN_OR_RETURN(NodeId parent, WalkDirectories(components, components.size() - 1, /*create_missing=*/true));
  NodeId existing = Lookup(parent, base);
  if (entry.hardlink) return AddHardlink(entry, parent, base, existing);

  if (entry.kind == ipc::EntryKind::kDirectory && existing != kNone && IsDirectory(existing)) {
    SetAttributes(inodes_[nodes_[existing].inode], entry, FitTimes(entry));  // dir over dir: attributes merge
    nodes_[existing].layer = layer_index_;
    return {};
  }
  // Any other type change replaces, subtree and all; a hardlinked name gets a new inode,
  // so the other names keep the old one.
  if (existing != kNone) Remove(existing);
  BANGER_ASSIGN_OR_RETURN(InodeId inode, NewInodeFor(entry, read_data));
  BANGER_TRY(AddNode(parent, base, inode));
  return {};
}

ipc::TreeSummary LayerTree::Summarize() const {
  ipc::TreeSummary s;
  std::vector<bool> counted(inodes_.size(), false);
  for (NodeId id = 0; id < nodes_.size(); ++id) {
    const Node& node = nodes_[id];
    if (!node.live) continue;
    ++s.entries;
    uint64_t children = 0;
    for (NodeId child = node.first_child; child != kNone; child = nodes_[child].next_sibling) ++children;
    s.largest_directory = std::max(s.largest_directory, children);
    if (counted[node.inode]) continue;
    counted[node.inode] = true;
    const Inode& inode = inodes_[node.inode];
    ++s.inodes;
    if (inode.kind == ipc::EntryKind::kDirectory) ++s.directories;
    if (inode.kind == ipc::EntryKind::kRegular) s.apparent_bytes += inode.size;
    if (inode.flags & kOneExtent) s.data_bytes += inode.extent_length;
    if (!inode.extras) continue;
    for (const auto& x : inode.extras->extents) s.data_bytes += x.length;
    s.metadata_bytes += inode.extras->link_target.size();
    for (const auto& x : inode.extras->xattrs) s.metadata_bytes += x.name.size() + x.value.size();
  }
  return s;
}

Result<void> LayerTree::Emit(ipc::TreeStreamWriter& out) const {
  BANGER_TRY(out.WriteSummary(Summarize()));
  std::vector<uint32_t> emitted(inodes_.size(), 0);  // our inode -> its number in the stream, 0 = not yet
  uint64_t next_inode = ipc::kRootInode;
  // Depth-first, children in byte order; each directory's number is known before its children.
  std::vector<std::pair<NodeId, uint64_t>> todo{{kRoot, 0}};
  std::vector<NodeId> children;
  while (!todo.empty()) {
    auto [id, parent_number] = todo.back();
    todo.pop_back();
    const Node& node = nodes_[id];
    const Inode& inode = inodes_[node.inode];
    ipc::TreeEntry e;
    e.parent = parent_number;
    e.name = NameOf(id);
    children.clear();
    if (emitted[node.inode] != 0) {
      e.kind = ipc::EntryKind::kHardlink;
      e.layer = node.layer;
      e.inode = emitted[node.inode];
    } else {
      e.inode = next_inode++;
      emitted[node.inode] = static_cast<uint32_t>(e.inode);
      e.kind = inode.kind;
      e.layer = inode.layer;
      e.mode = inode.mode;
      e.uid = inode.uid;
      e.gid = inode.gid;
      e.mtime = {inode.mtime_sec, inode.mtime_nsec};
      e.atime = e.ctime = e.mtime;
      e.size = inode.size;
      if (inode.flags & kOneExtent) e.extents.push_back({0, inode.extent_length, inode.extent_spool_offset});
      if (const Extras* x = inode.extras.get()) {
        if (inode.flags & kOwnAtime) e.atime = x->atime;
        if (inode.flags & kOwnCtime) e.ctime = x->ctime;
        e.rdev_major = x->rdev_major;
        e.rdev_minor = x->rdev_minor;
        e.link_target = x->link_target;
        e.xattrs = x->xattrs;
        if (!(inode.flags & kOneExtent)) e.extents = x->extents;
      }
      for (NodeId child = node.first_child; child != kNone; child = nodes_[child].next_sibling) {
        children.push_back(child);
      }
      if (inode.kind == ipc::EntryKind::kDirectory) e.children = children.size();
    }
    BANGER_TRY(out.Write(e));
    if (e.kind != ipc::EntryKind::kDirectory) continue;
    // Largest name first, so the smallest is on top of the stack.
    std::sort(children.begin(), children.end(), [this](NodeId a, NodeId b) { return NameOf(a) > NameOf(b); });
    for (NodeId child : children) todo.emplace_back(child, e.inode);
  }
  return out.Finish();
}

}  // namespace banger::unpacker
