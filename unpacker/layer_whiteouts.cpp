// Whiteouts, opaque directories and aufs's bookkeeping (OCI image-spec layer.md and
// moby's reading of aufs layers): what makes a layer hide what is below it. No name
// starting with .wh. ever enters the tree (docs/unpacker.md).
#include <algorithm>

#include "unpacker/layer_tree.h"
#include "unpacker/whiteout_names.h"

namespace banger::unpacker {

void LayerTree::EndLayer() {
  // moby drops .wh..wh.plnk after the layer; its files live on through their links only.
  for (const auto& [name, id] : aufs_links_) DropName(id);
  aufs_links_.clear();
}

uint32_t LayerTree::NamesOf(InodeId inode) const {
  uint32_t names = inodes_[inode].names;
  for (const auto& [name, id] : aufs_links_) names -= id == inode ? 1 : 0;
  return names;
}

void LayerTree::PruneLower(NodeId dir) {
  // Lower-layer children go; this layer's directories are pruned of their lower parts.
  std::vector<NodeId> todo{dir};
  while (!todo.empty()) {
    NodeId d = todo.back();
    todo.pop_back();
    std::vector<NodeId> doomed;
    for (NodeId child = nodes_[d].first_child; child != kNone; child = nodes_[child].next_sibling) {
      if (nodes_[child].layer < layer_index_) {
        doomed.push_back(child);
      } else if (IsDirectory(child)) {
        todo.push_back(child);
      }
    }
    for (NodeId child : doomed) Remove(child);
  }
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
  if (base.rfind(kMetaPrefix, 0) == 0) return {};  // aufs bookkeeping below the root: nothing to hide
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

Result<void> LayerTree::ApplyAufsMetadata(const TarEntry& entry, const std::vector<std::string>& components,
                                         const DataReader& read_data) {
  // As moby: these directories never reach the image, but a file in .wh..wh.plnk is kept,
  // for this layer, as the target of the hardlinks that name it.
  if (components[0] != kAufsLinkDir || components.size() != 2 || entry.kind != ipc::EntryKind::kRegular ||
      entry.hardlink) {
    return {};
  }
  BANGER_ASSIGN_OR_RETURN(InodeId id, NewInodeFor(entry, read_data));
  inodes_[id].names = 1;  // held until EndLayer
  for (auto& [name, held] : aufs_links_) {
    if (name != components[1]) continue;
    std::swap(held, id);  // the last entry of a name wins; the old one is released
    DropName(id);
    return {};
  }
  aufs_links_.emplace_back(components[1], id);
  return {};
}

}  // namespace banger::unpacker
