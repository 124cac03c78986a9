// A catalog bundle (`.tar.zst` holding exactly `rootfs.ext4` and `manifest.json`),
// opened inside the unpacker's jail: the rootfs goes into the fd the broker gave, sparse;
// the manifest comes back checked. Any other entry (another name, a link, a directory,
// a path with `..` or `/`) is refused by name.
#pragma once

#include <cstdint>
#include "base/result.h"
#include "ipc/unpack_protocol.h"

namespace banger::unpacker {

struct BundleLimits {
  uint64_t max_rootfs_bytes = 1ull << 40;
  uint64_t max_manifest_bytes = 64 << 10;
};

struct ExtractedBundle {
  ipc::BundleManifest manifest;  // every field a short string; the name never empty
  uint64_t rootfs_bytes = 0;
};

Result<ExtractedBundle> ExtractBundle(int bundle_fd, int rootfs_fd, const BundleLimits& limits);

}  // namespace banger::unpacker
