// Drives the real, sandboxed banger-unpacker the way the broker does, over layers built
// by tests/fixtures/layers.py, and decodes the tree stream it writes into a map of
// path -> entry with file contents read back from the spool.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ipc/tree_stream.h"
#include "security/spawn.h"
#include "tests/support/layer_entry.h"
#include "tests/support/test_support.h"

namespace banger::testing {

struct BuiltLayer {
  std::string path;
  std::string digest;
  std::string diff_id;
};

// Builds a layer from a layers.py spec into `dir`; fails the test on error.
BuiltLayer BuildLayer(const nlohmann::json& spec, const ScratchDir& dir);
// Shorthand: a gzip layer of these entries, each a LayerEntry (tests/support/layer_entry.h).
nlohmann::json Layer(const std::vector<LayerEntry>& entries, const std::string& compression = "gzip");

struct UnpackedTree {
  std::map<std::string, ipc::TreeEntry> entries;  // "/etc/passwd" -> entry; "/" is the root
  std::map<std::string, std::string> hardlinks;   // extra name -> the first name of its inode
  std::map<std::string, std::string> contents;    // regular files up to 1 MiB
  ipc::TreeSummary summary;
  nlohmann::json done;                            // the unpack-done message
  uint64_t peak_rss_kib = 0;                      // the unpacker's VmHWM

  const ipc::TreeEntry* Find(const std::string& path) const;
  bool Has(const std::string& path) const { return Find(path) != nullptr || hardlinks.count(path); }
  // Whether two names are one inode (the stream gives the inode to the first in byte order).
  bool SameInode(const std::string& a, const std::string& b) const {
    auto link = [&](const std::string& x, const std::string& y) {
      auto it = hardlinks.find(x);
      return it != hardlinks.end() && it->second == y;
    };
    return link(a, b) || link(b, a);
  }
};

struct UnpackOptions {
  std::optional<std::vector<std::string>> diff_ids;  // default: the layers' own
  nlohmann::json limits = nlohmann::json::object();
  std::string media_type = "application/vnd.oci.image.layer.v1.tar+gzip";  // what the manifest claims
  bool guest_assets = false;  // inject banger's guest files as the pull does
  std::string architecture = "amd64";  // the image config's
  // Per layer: nonzero sends it as still downloading, to end at that many bytes.
  std::vector<uint64_t> grows_to;
};

// The unpacked tree, or the error the pull would fail with.
Result<UnpackedTree> Unpack(const std::vector<BuiltLayer>& layers, const UnpackOptions& options = {});

// Starts banger-unpacker on `layers`: file contents go to `spool_fd`, the tree stream to
// `tree_fd`. The caller collects unpack-done with WaitForUnpack.
Result<security::SandboxedChild> StartUnpacker(const std::vector<BuiltLayer>& layers, const UnpackOptions& options,
                                               int spool_fd, int tree_fd);
Result<nlohmann::json> WaitForUnpack(security::SandboxedChild& unpacker);

}  // namespace banger::testing
