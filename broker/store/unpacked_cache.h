// Images as the unpacker left them, kept beside the blobs so that pulling an image again
// skips the unpacker: <cache>/oci/unpacked/<key>/{spool,tree,unpacked.json}, the key a
// sha256 of everything that decides the unpacker's output (UnpackedKey). The broker only
// stores and hands over these files; the imager reads them as it would from a live
// unpacker, so nothing here is trusted more than the unpacker was.
//
// The files are not fsynced (that would cost a pull the writeback of every file byte
// again): an entry records the boot it was written in, and one from an earlier boot,
// which a crash may have cut short, is ignored and replaced.
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

struct UnpackedEntry {
  UniqueFd spool;  // read-only
  UniqueFd tree;   // read-only, at offset 0
  ipc::UnpackSummary summary;
};

class UnpackedCache {
 public:
  explicit UnpackedCache(const CacheLayout& layout) : dir_(layout.unpacked_dir()) {}
  const std::string& dir() const { return dir_; }

  std::optional<UnpackedEntry> Find(const std::string& key) const;
  // An unnamed file in the cache's directory, to become an entry's spool or tree.
  Result<UniqueFd> CreateFile() const;
  // Links the spool and tree (from CreateFile) in as `key`, with the unpack summary.
  Result<void> Store(const std::string& key, int spool_fd, int tree_fd, const ipc::UnpackSummary& summary) const;

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
