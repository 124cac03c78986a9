// The tree's name index: every live name stored once in one buffer, found by (parent,
// name) through one open-addressing table keyed with SipHash, so that crafted names
// cannot make lookups slow.
#include <cstring>
#include <string>

#include "unpacker/layer_tree.h"

namespace banger::unpacker {
namespace {

uint64_t Rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

// SipHash-1-3 of an 8-byte block followed by `rest`. Keyed with the kernel's per-process
// random bytes, so names cannot be crafted to collide and make every lookup a scan of
// the table, which a std::map never allowed.
uint64_t SipHash13(const uint64_t key[2], uint64_t first, std::string_view rest) {
  uint64_t v0 = key[0] ^ 0x736f6d6570736575ull, v1 = key[1] ^ 0x646f72616e646f6dull;
  uint64_t v2 = key[0] ^ 0x6c7967656e657261ull, v3 = key[1] ^ 0x7465646279746573ull;
  auto round = [&] {
    v0 += v1, v1 = Rotl(v1, 13), v1 ^= v0, v0 = Rotl(v0, 32);
    v2 += v3, v3 = Rotl(v3, 16), v3 ^= v2;
    v0 += v3, v3 = Rotl(v3, 21), v3 ^= v0;
    v2 += v1, v1 = Rotl(v1, 17), v1 ^= v2, v2 = Rotl(v2, 32);
  };
  auto absorb = [&](uint64_t m) {
    v3 ^= m;
    round();
    v0 ^= m;
  };
  absorb(first);
  size_t i = 0;
  for (; i + 8 <= rest.size(); i += 8) {
    uint64_t m;
    std::memcpy(&m, rest.data() + i, 8);
    absorb(m);
  }
  uint64_t last = static_cast<uint64_t>(8 + rest.size()) << 56;
  for (size_t j = 0; i + j < rest.size(); ++j) last |= uint64_t{static_cast<unsigned char>(rest[i + j])} << (8 * j);
  absorb(last);
  v2 ^= 0xff;
  round();
  round();
  round();
  return v0 ^ v1 ^ v2 ^ v3;
}

}  // namespace

std::string_view LayerTree::NameOf(NodeId node) const {
  return {names_.data() + nodes_[node].name_offset, nodes_[node].name_size};
}

uint64_t LayerTree::Hash(NodeId parent, std::string_view name) const { return SipHash13(hash_key_, parent, name); }

LayerTree::NodeId LayerTree::Lookup(NodeId dir, std::string_view name) const {
  const size_t mask = slots_.size() - 1;
  for (size_t i = Hash(dir, name) & mask;; i = (i + 1) & mask) {
    const NodeId id = slots_[i];
    if (id == kNone) return kNone;
    if (nodes_[id].parent == dir && NameOf(id) == name) return id;
  }
}

void LayerTree::InsertSlot(NodeId node) {
  if (uint64_t{used_slots_ + 1} * 4 > uint64_t{slots_.size()} * 3) GrowSlots();  // at most 3/4 full
  const size_t mask = slots_.size() - 1;
  size_t i = Hash(nodes_[node].parent, NameOf(node)) & mask;
  while (slots_[i] != kNone) i = (i + 1) & mask;
  slots_[i] = node;
  ++used_slots_;
}

void LayerTree::EraseSlot(NodeId node) {
  const size_t mask = slots_.size() - 1;
  size_t hole = Hash(nodes_[node].parent, NameOf(node)) & mask;
  while (slots_[hole] != node) hole = (hole + 1) & mask;
  // Backward shift instead of a tombstone: pull later entries of the run into the hole
  // when that keeps them reachable from their home slot.
  for (size_t i = (hole + 1) & mask; slots_[i] != kNone; i = (i + 1) & mask) {
    const size_t home = Hash(nodes_[slots_[i]].parent, NameOf(slots_[i])) & mask;
    if (((i - home) & mask) >= ((i - hole) & mask)) {
      slots_[hole] = slots_[i];
      hole = i;
    }
  }
  slots_[hole] = kNone;
  --used_slots_;
}

void LayerTree::GrowSlots() {
  std::vector<NodeId> old(slots_.size() * 2, kNone);
  old.swap(slots_);
  used_slots_ = 0;
  for (NodeId id : old) {
    if (id != kNone) InsertSlot(id);
  }
}

void LayerTree::CompactNames() {
  std::string names;
  names.reserve(names_.size() - dead_name_bytes_);
  for (NodeId id = 0; id < nodes_.size(); ++id) {
    Node& node = nodes_[id];
    if (!node.live) continue;
    const size_t offset = names.size();
    names.append(NameOf(id));
    node.name_offset = static_cast<uint32_t>(offset);
  }
  names_ = std::move(names);
  dead_name_bytes_ = 0;
}

}  // namespace banger::unpacker
