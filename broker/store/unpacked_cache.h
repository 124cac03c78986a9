// Images as the unpacker left them, kept beside the blobs so that pulling an image again
// skips the unpacker: <cache>/oci/unpacked/<key>/{image,tree,unpacked.json}, the key a
// sha256 of everything that decides the unpacker's output (UnpackedKey). `image` is a
// hard link to the rootfs.ext4 the pull published, whose data region holds every file's
// bytes where the unpacker put them (docs/architecture.md): keeping it costs no write.
// The broker only stores and hands over these files; the imager reads them as it would
// from a live unpacker, so nothing here is trusted more than the unpacker was.
//
// The published image may be written to later (booted read-write, resized, removed and
// its blocks reused by nobody but its owner): the entry records the file's identity and
// modification time once it is final, and an image that no longer matches is not used,
// and the entry goes. The tree is not fsynced: an entry records the boot it was written
// in, and one from an earlier boot, which a crash may have cut short, is ignored and
// replaced.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/fd.h"
#include "base/result.h"
#include "broker/store/cache_layout.h"
#include "ipc/unpack_protocol.h"

namespace banger::broker {

// What decides the unpacker's output for one image.
struct UnpackedKey {
  std::string banger_version;
  // The unpacker executable carries the guest files: a rebuilt or reinstalled one (same
  // version or not) must not reuse what the old one made (HelperLauncher::Identity).
  std::string unpacker_identity;
  std::string config_digest;
  std::vector<std::string> layer_digests;
  ipc::UnpackRequest request;  // bounds and guest files; its layers are ignored

  std::string Hash() const;  // 64 hex digits
};

// What tells a file apart from itself after a write: any write changes the mtime.
struct FileIdentity {
  uint64_t device = 0, inode = 0, size = 0;
  int64_t mtime_sec = 0, mtime_nsec = 0;
  static Result<FileIdentity> Of(int fd);
  bool operator==(const FileIdentity&) const = default;
};

struct UnpackedEntry {
  UniqueFd image;  // read-only: the data region of a published image
  UniqueFd tree;   // read-only, at offset 0
  ipc::UnpackSummary summary;
  FileIdentity identity;  // what `image` was when stored, and is still
};

class UnpackedCache {
 public:
  explicit UnpackedCache(const CacheLayout& layout) : dir_(layout.unpacked_dir()) {}
  const std::string& dir() const { return dir_; }

  std::optional<UnpackedEntry> Find(const std::string& key) const;
  // An unnamed file in the cache's directory, to become an entry's tree.
  Result<UniqueFd> CreateFile() const;
  // Links the published image and the tree (from CreateFile) in as `key`, with the
  // unpack summary and `identity`, the image's when it was last written: an image that no
  // longer matches it is not stored.
  Result<void> Store(const std::string& key, int image_fd, int tree_fd, const ipc::UnpackSummary& summary,
                     const FileIdentity& identity) const;

  // Removes every entry (cache prune); a pull using one keeps its open files.
  struct Removed {
    uint64_t bytes = 0;
    uint64_t entries = 0;
  };
  Removed RemoveAll(bool dry_run) const;

 private:
  std::string dir_;
};

}  // namespace banger::broker
