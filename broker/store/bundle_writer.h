// `banger image bundle`: a pulled image as a catalog bundle, `.tar.zst` holding
// manifest.json and rootfs.ext4. Written by the broker from its own trusted files (it
// parses nothing), deterministically: the same image gives the same bundle bytes.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"
#include "ipc/unpack_protocol.h"

namespace banger::broker {

struct WrittenBundle {
  std::string sha256;  // hex
  uint64_t size = 0;
};

// Stages next to `out_path`, fsyncs and renames: a failure leaves no partial bundle.
// Without `replace`, an existing `out_path` is kept and the write fails.
Result<WrittenBundle> WriteBundle(const std::string& rootfs_path, const ipc::BundleManifest& manifest,
                                  const std::string& out_path, bool replace);
// Into `out`, an empty regular file opened for writing (one bangerd's client created and
// passed, which publishes it itself), then fsync'd.
Result<WrittenBundle> WriteBundleTo(const std::string& rootfs_path, const ipc::BundleManifest& manifest, int out);

}  // namespace banger::broker
