// The flattened tree, as the unpacker writes it for the imager (a file both share): a
// summary first (so the filesystem can be sized before any inode is written), then
// one record per name, parents before children, in a deterministic order. File bytes
// do not travel here: records point at extents of the image's data region (the "spool"),
// which the unpacker wrote and the imager maps in place.
// Names are raw bytes. The reader validates everything; the writer is trusted by no one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace banger::ipc {

enum class EntryKind : uint8_t {
  kDirectory = 1,
  kRegular = 2,
  kSymlink = 3,
  kCharDevice = 4,
  kBlockDevice = 5,
  kFifo = 6,
  kSocket = 7,
  kHardlink = 8,  // another name for an inode an earlier record created
};
const char* EntryKindName(EntryKind kind);

struct Timestamp {
  int64_t sec = 0;
  uint32_t nsec = 0;
  bool operator==(const Timestamp&) const = default;
};

struct Xattr {
  std::string name;
  std::string value;
  bool operator==(const Xattr&) const = default;
};

// Bytes [file_offset, file_offset + length) of a file are at spool_offset in the spool.
struct Extent {
  uint64_t file_offset = 0;
  uint64_t length = 0;
  uint64_t spool_offset = 0;
  bool operator==(const Extent&) const = default;
};

inline constexpr uint64_t kRootInode = 1;

struct TreeEntry {
  EntryKind kind = EntryKind::kRegular;
  uint32_t layer = 0;   // the layer that last set the inode's attributes, for messages
  uint64_t inode = 0;   // hardlinks share it; the root directory is kRootInode
  uint64_t parent = 0;  // the parent directory's inode; 0 for the root
  std::string name;     // one component, raw bytes; empty for the root
  uint32_t mode = 0;    // permission bits with setuid/setgid/sticky, no type bits
  uint32_t uid = 0, gid = 0;
  Timestamp mtime, atime, ctime;
  uint64_t size = 0;    // regular files: apparent size
  uint32_t rdev_major = 0, rdev_minor = 0;
  std::string link_target;      // symlinks, as written in the layer
  std::vector<Xattr> xattrs;
  std::vector<Extent> extents;  // regular files; the gaps are holes
  uint64_t children = 0;        // directories: how many names they hold
};

struct TreeSummary {
  uint64_t entries = 0;        // records that follow
  uint64_t inodes = 0;
  uint64_t directories = 0;
  uint64_t data_bytes = 0;     // sum of extent lengths (holes excluded)
  uint64_t apparent_bytes = 0; // sum of regular file sizes
  uint64_t metadata_bytes = 0; // symlink targets and xattrs
  uint64_t largest_directory = 0;  // entries in the biggest directory
};

struct TreeStreamLimits {
  size_t max_name = 255;
  size_t max_link_target = 4095;
  size_t max_xattrs_bytes = 64 * 1024;  // per entry, names and values
  size_t max_extents = 1 << 20;         // per file
  uint64_t max_entries = 50'000'000;
};

class TreeStreamWriter {
 public:
  explicit TreeStreamWriter(int fd) : fd_(fd) {}
  Result<void> WriteSummary(const TreeSummary& summary);
  Result<void> Write(const TreeEntry& entry);
  // Writes the end marker and flushes.
  Result<void> Finish();

 private:
  Result<void> Flush();
  int fd_;
  std::string buffer_;
};

class TreeStreamReader {
 public:
  explicit TreeStreamReader(int fd, TreeStreamLimits limits = {}) : fd_(fd), limits_(limits) {}
  Result<TreeSummary> ReadSummary();
  // The next record, or nullopt at the end marker. A stream that stops before the end
  // marker, or any field out of bounds, is a named error.
  Result<std::optional<TreeEntry>> Next();

 private:
  Result<void> ReadExactly(void* out, size_t size);
  int fd_;
  TreeStreamLimits limits_;
  std::vector<char> buffer_;
  size_t buffer_pos_ = 0;
  uint64_t records_ = 0;
};

// Decodes one record body (without its length prefix). Exposed for the fuzzer.
Result<TreeEntry> DecodeTreeEntry(std::string_view record, const TreeStreamLimits& limits);
std::string EncodeTreeEntry(const TreeEntry& entry);

}  // namespace banger::ipc
