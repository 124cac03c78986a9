// One builder for the entries of a tests/fixtures/layers.py spec, used by every C++ test
// that writes a layer. Each setter writes one key layers.py knows, and nothing else can
// write one, so a misspelt key cannot be written from C++; Keys() lists them all, and
// tests/support/layer_entry_test.cpp checks that list against `layers.py --print-known-keys`.
//
//   Layer({LayerEntry::Dir("etc").Mode(0700),
//          LayerEntry::File("etc/shadow", "root:*::\n").Mode(0640).Gid(42),
//          LayerEntry::Symlink("bin", "usr/bin"),
//          LayerEntry::Char("dev/null").Major(1).Minor(3).Mode(0666)})
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace banger::testing {

// A path or a link target: text ("path", "target"), or raw bytes, which go hex-encoded
// ("path_hex", "target_hex") so a name that is not UTF-8 reaches the tar header as it is.
class EntryName {
 public:
  EntryName(std::string text) : value_(std::move(text)) {}  // NOLINT(google-explicit-constructor)
  EntryName(const char* text) : value_(text) {}             // NOLINT(google-explicit-constructor)
  static EntryName Bytes(std::string raw) {
    EntryName name(std::move(raw));
    name.raw_ = true;
    return name;
  }

 private:
  friend class LayerEntry;
  std::string value_;
  bool raw_ = false;
};

class LayerEntry {
 public:
  // One named constructor per "type" layers.py accepts. A regular file carries no "type"
  // key (layers.py's default); File(path) alone is empty until a data setter says more.
  static LayerEntry File(EntryName path);
  static LayerEntry File(EntryName path, std::string content);  // File(path).Content(content)
  static LayerEntry Dir(EntryName path);
  static LayerEntry Symlink(EntryName path, EntryName target);
  static LayerEntry Hardlink(EntryName path, EntryName target);
  static LayerEntry Char(EntryName path);  // device numbers: Major, Minor (or Pax records)
  static LayerEntry Block(EntryName path);
  static LayerEntry Fifo(EntryName path);

  // A regular file's data, one of these (each replaces whichever was set before).
  LayerEntry& Content(std::string text) &;             // "content"
  LayerEntry& ContentBytes(const std::string& raw) &;  // "content_hex": any bytes
  LayerEntry& ZeroBytes(uint64_t count) &;             // "zero_bytes": that many zeros
  LayerEntry& FillBytes(uint64_t count) &;             // "fill_bytes": that many 'a's
  // "sparse": a GNU sparse member written by GNU tar --sparse, pieces of text at offsets.
  LayerEntry& Sparse(std::vector<std::pair<uint64_t, std::string>> pieces) &;
  // "sparse_map": a PAX 1.0 sparse member written piece by piece (any bytes, any offsets).
  LayerEntry& SparseMap(const std::vector<std::pair<uint64_t, std::string>>& pieces) &;
  LayerEntry& Size(uint64_t bytes) &;  // "size": the apparent size of a Sparse or SparseMap file

  LayerEntry& Mode(uint32_t mode) &;   // "mode" (layers.py: 0755 for a directory, else 0644)
  LayerEntry& Uid(uint64_t uid) &;     // "uid"
  LayerEntry& Gid(uint64_t gid) &;     // "gid"
  LayerEntry& Mtime(int64_t sec) &;    // "mtime" (atime, ctime and fractions: Pax)
  LayerEntry& Major(uint64_t major) &;  // "major"
  LayerEntry& Minor(uint64_t minor) &;  // "minor"
  // "xattrs": one more extended attribute, its value raw bytes (sent hex-encoded).
  LayerEntry& Xattr(const std::string& name, const std::string& value) &;
  LayerEntry& PaxBytes(uint64_t bytes) &;  // "pax_bytes": a PAX comment record of that size
  // "pax": one more PAX record as given, overriding the header ("mtime", "uid",
  // "SCHILY.devmajor", ... for values a header cannot hold).
  LayerEntry& Pax(const std::string& record, const std::string& value) &;

  // The same on a temporary, by value, so a chain never leaves a dangling reference.
  LayerEntry Content(std::string text) && { return std::move(Content(std::move(text))); }
  LayerEntry ContentBytes(const std::string& raw) && { return std::move(ContentBytes(raw)); }
  LayerEntry ZeroBytes(uint64_t count) && { return std::move(ZeroBytes(count)); }
  LayerEntry FillBytes(uint64_t count) && { return std::move(FillBytes(count)); }
  LayerEntry Sparse(std::vector<std::pair<uint64_t, std::string>> pieces) && {
    return std::move(Sparse(std::move(pieces)));
  }
  LayerEntry SparseMap(const std::vector<std::pair<uint64_t, std::string>>& pieces) && {
    return std::move(SparseMap(pieces));
  }
  LayerEntry Size(uint64_t bytes) && { return std::move(Size(bytes)); }
  LayerEntry Mode(uint32_t mode) && { return std::move(Mode(mode)); }
  LayerEntry Uid(uint64_t uid) && { return std::move(Uid(uid)); }
  LayerEntry Gid(uint64_t gid) && { return std::move(Gid(gid)); }
  LayerEntry Mtime(int64_t sec) && { return std::move(Mtime(sec)); }
  LayerEntry Major(uint64_t major) && { return std::move(Major(major)); }
  LayerEntry Minor(uint64_t minor) && { return std::move(Minor(minor)); }
  LayerEntry Xattr(const std::string& name, const std::string& value) && { return std::move(Xattr(name, value)); }
  LayerEntry PaxBytes(uint64_t bytes) && { return std::move(PaxBytes(bytes)); }
  LayerEntry Pax(const std::string& record, const std::string& value) && { return std::move(Pax(record, value)); }

  // The entry as layers.py reads it.
  const nlohmann::json& Json() const { return json_; }

  // Every key the builder can write, each once: exactly layers.py's ENTRY_KEYS.
  static const std::vector<std::string>& Keys();

 private:
  enum class Key;
  static std::string KeyName(Key key);
  LayerEntry(EntryName path, const char* type);
  void Set(Key key, nlohmann::json value);
  nlohmann::json& Member(Key key);  // the key's object ("xattrs", "pax"), made on first use
  void SetName(Key text, Key raw, const EntryName& name);
  void SetData(Key key, nlohmann::json value);

  nlohmann::json json_ = nlohmann::json::object();
};

// So an entry goes wherever nlohmann::json does.
inline void to_json(nlohmann::json& out, const LayerEntry& entry) { out = entry.Json(); }

}  // namespace banger::testing
