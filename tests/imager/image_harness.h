// Builds a rootfs.ext4 the way a cold pull does, minus the registry: the sandboxed
// unpacker writes file data into the image's data region and the tree into a file; once
// it has exited, the sandboxed imager builds the filesystem around the data. Then checks
// it with e2fsck and a read-only loop mount.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/test_support.h"
#include "tests/unpacker/unpack_harness.h"

namespace banger::testing {

struct ImageOptions {
  UnpackOptions unpack;
  uint64_t size_bytes = 0;  // 0: sized from the content
  std::string manifest_digest = "sha256:" + std::string(64, 'b');
  // Written into the image after the unpacker and before the imager, at these offsets,
  // as a compromised unpacker could have (the imager must leave none of it).
  std::vector<std::pair<uint64_t, std::string>> scribbles;
};

struct BuiltImage {
  std::string path;
  nlohmann::json unpack_done;
  nlohmann::json image_done;
  uint64_t imager_peak_rss_kib = 0;
};

Result<BuiltImage> BuildRootfs(const std::vector<BuiltLayer>& layers, const std::string& path,
                               const ImageOptions& options = {});

// e2fsck -fn; exit status 0 when it finds nothing.
CommandResult Fsck(const std::string& image);

// The tree of a read-only loop mount of `image` (tests/fixtures/fstree.py); with
// `times`, each entry has its link count and times as the kernel reads them.
nlohmann::json DumpTree(const std::string& image, const std::vector<std::string>& excludes = {"/lost+found"},
                        bool times = false);

// Runs a shell command with $M naming a read-only loop mount of `image` (for files too
// big to hash, say); its output, or "" when the mount or the command fails.
std::string RunInImage(const std::string& image, const std::string& command);

}  // namespace banger::testing
