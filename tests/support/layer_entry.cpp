#include "tests/support/layer_entry.h"

#include <array>
#include <string_view>

#include "tests/support/test_support.h"

namespace banger::testing {

// The keys, named once: the only strings this builder writes as keys.
enum class LayerEntry::Key {
  kPath, kPathHex, kType,
  kContent, kContentHex, kZeroBytes, kFillBytes, kSparse, kSparseMap, kSize,
  kTarget, kTargetHex,
  kMode, kUid, kGid, kMtime, kMajor, kMinor,
  kXattrs, kPaxBytes, kPax,
  kCount,
};

std::string LayerEntry::KeyName(Key key) {
  static constexpr std::array<std::string_view, 21> kNames = {
      "path", "path_hex", "type",
      "content", "content_hex", "zero_bytes", "fill_bytes", "sparse", "sparse_map", "size",
      "target", "target_hex",
      "mode", "uid", "gid", "mtime", "major", "minor",
      "xattrs", "pax_bytes", "pax",
  };
  static_assert(kNames.size() == static_cast<size_t>(Key::kCount), "one name per key");
  return std::string(kNames.at(static_cast<size_t>(key)));
}

const std::vector<std::string>& LayerEntry::Keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> all;
    for (size_t i = 0; i < static_cast<size_t>(Key::kCount); ++i) all.push_back(KeyName(static_cast<Key>(i)));
    return all;
  }();
  return keys;
}

LayerEntry::LayerEntry(EntryName path, const char* type) {
  SetName(Key::kPath, Key::kPathHex, path);
  if (type != nullptr) Set(Key::kType, type);
}

void LayerEntry::Set(Key key, nlohmann::json value) { json_[KeyName(key)] = std::move(value); }

nlohmann::json& LayerEntry::Member(Key key) {
  nlohmann::json& member = json_[KeyName(key)];
  if (!member.is_object()) member = nlohmann::json::object();
  return member;
}

void LayerEntry::SetName(Key text, Key raw, const EntryName& name) {
  json_.erase(KeyName(text));
  json_.erase(KeyName(raw));
  if (name.raw_) {
    Set(raw, Hex(name.value_));
  } else {
    Set(text, name.value_);
  }
}

void LayerEntry::SetData(Key key, nlohmann::json value) {
  for (Key other : {Key::kContent, Key::kContentHex, Key::kZeroBytes, Key::kFillBytes, Key::kSparse, Key::kSparseMap}) {
    json_.erase(KeyName(other));
  }
  Set(key, std::move(value));
}

LayerEntry LayerEntry::File(EntryName path) { return LayerEntry(std::move(path), nullptr); }
LayerEntry LayerEntry::File(EntryName path, std::string content) {
  return File(std::move(path)).Content(std::move(content));
}
LayerEntry LayerEntry::Dir(EntryName path) { return LayerEntry(std::move(path), "dir"); }
LayerEntry LayerEntry::Symlink(EntryName path, EntryName target) {
  LayerEntry entry(std::move(path), "symlink");
  entry.SetName(Key::kTarget, Key::kTargetHex, target);
  return entry;
}
LayerEntry LayerEntry::Hardlink(EntryName path, EntryName target) {
  LayerEntry entry(std::move(path), "hardlink");
  entry.SetName(Key::kTarget, Key::kTargetHex, target);
  return entry;
}
LayerEntry LayerEntry::Char(EntryName path) { return LayerEntry(std::move(path), "char"); }
LayerEntry LayerEntry::Block(EntryName path) { return LayerEntry(std::move(path), "block"); }
LayerEntry LayerEntry::Fifo(EntryName path) { return LayerEntry(std::move(path), "fifo"); }

LayerEntry& LayerEntry::Content(std::string text) & {
  SetData(Key::kContent, std::move(text));
  return *this;
}
LayerEntry& LayerEntry::ContentBytes(const std::string& raw) & {
  SetData(Key::kContentHex, Hex(raw));
  return *this;
}
LayerEntry& LayerEntry::ZeroBytes(uint64_t count) & {
  SetData(Key::kZeroBytes, count);
  return *this;
}
LayerEntry& LayerEntry::FillBytes(uint64_t count) & {
  SetData(Key::kFillBytes, count);
  return *this;
}
LayerEntry& LayerEntry::Sparse(std::vector<std::pair<uint64_t, std::string>> pieces) & {
  nlohmann::json list = nlohmann::json::array();
  for (auto& [offset, text] : pieces) list.push_back({offset, std::move(text)});
  SetData(Key::kSparse, std::move(list));
  return *this;
}
LayerEntry& LayerEntry::SparseMap(const std::vector<std::pair<uint64_t, std::string>>& pieces) & {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& [offset, bytes] : pieces) list.push_back({offset, Hex(bytes)});
  SetData(Key::kSparseMap, std::move(list));
  return *this;
}
LayerEntry& LayerEntry::Size(uint64_t bytes) & {
  Set(Key::kSize, bytes);
  return *this;
}
LayerEntry& LayerEntry::Mode(uint32_t mode) & {
  Set(Key::kMode, mode);
  return *this;
}
LayerEntry& LayerEntry::Uid(uint64_t uid) & {
  Set(Key::kUid, uid);
  return *this;
}
LayerEntry& LayerEntry::Gid(uint64_t gid) & {
  Set(Key::kGid, gid);
  return *this;
}
LayerEntry& LayerEntry::Mtime(int64_t sec) & {
  Set(Key::kMtime, sec);
  return *this;
}
LayerEntry& LayerEntry::Major(uint64_t major) & {
  Set(Key::kMajor, major);
  return *this;
}
LayerEntry& LayerEntry::Minor(uint64_t minor) & {
  Set(Key::kMinor, minor);
  return *this;
}
LayerEntry& LayerEntry::Xattr(const std::string& name, const std::string& value) & {
  Member(Key::kXattrs)[name] = Hex(value);
  return *this;
}
LayerEntry& LayerEntry::PaxBytes(uint64_t bytes) & {
  Set(Key::kPaxBytes, bytes);
  return *this;
}
LayerEntry& LayerEntry::Pax(const std::string& record, const std::string& value) & {
  Member(Key::kPax)[record] = value;
  return *this;
}

}  // namespace banger::testing
