// Images as the unpacker left them, kept beside the blobs so that pulling an image again
// skips the unpacker: <cache>/oci/unpacked/<key>/{spool,tree,unpacked.json}, the key a
// sha256 of everything that decides the unpacker's output (banger's version and the
// unpacker executable, which carries the guest files; the config and layer digests; the
// unpack bounds; whether guest files go in). The broker only
// stores and hands over these files; the imager reads them as it would from a live
// unpacker, so nothing here is trusted more than the unpacker was.
//
// The files are not fsynced (that would cost a pull the writeback of every file byte
// again): an entry records the boot it was written in, and one from an earlier boot,
// which a crash may have cut short, is ignored and replaced.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "base/result.h"

namespace banger::broker {

struct FetchedImage;

struct UnpackedEntry {
  UniqueFd spool;       // read-only
  UniqueFd tree;        // read-only, at offset 0
  nlohmann::json done;  // the unpacker's unpack-done body
};

class UnpackedCache {
 public:
  explicit UnpackedCache(std::string oci_dir) : dir_(oci_dir + "/unpacked") {}
  const std::string& dir() const { return dir_; }

  // `unpack_request` is the unpack-begin body without its layers (bounds, guest files).
  static std::string Key(const FetchedImage& image, const nlohmann::json& unpack_request);

  std::optional<UnpackedEntry> Find(const std::string& key) const;
  // An unnamed file in the cache's directory, to become an entry's spool or tree.
  Result<UniqueFd> CreateFile() const;
  // Links the spool and tree (from CreateFile) in as `key`, with the unpack summary.
  Result<void> Store(const std::string& key, int spool_fd, int tree_fd, const nlohmann::json& done) const;

  // Removes every entry (cache prune); a pull using one keeps its open files.
  struct Removed {
    uint64_t bytes = 0;
    uint64_t entries = 0;
  };
  static Removed RemoveAll(const std::string& oci_dir, bool dry_run);

 private:
  std::string dir_;
};

}  // namespace banger::broker
