// Replays an image's layers, oldest first, into one tree: each layer decompressed once,
// its tar entries applied, its uncompressed bytes checked against the config's diff_id;
// file contents to the spool; then the flattened tree streamed out.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "ipc/tree_stream.h"
#include "ipc/unpack_protocol.h"
#include "unpacker/layer_stream.h"
#include "unpacker/layer_tree.h"
#include "unpacker/spool_writer.h"

namespace banger::unpacker {

struct LayerInput {
  int fd = -1;
  std::string digest;      // for messages: "layer sha256:..."
  std::string media_type;  // informational: the bytes decide the format
  // Nonzero while the blob is still downloading into `fd`: it will hold this many bytes.
  uint64_t grows_to = 0;
};

struct ReplayLimits {
  StreamLimits stream;
  TreeLimits tree;
  uint64_t max_total_uncompressed_bytes = 256ull << 30;
  uint64_t max_header_bytes = 1 << 20;  // tar headers before one entry (PAX included)
  // File data actually written to the spool: zero blocks are holes and do not count.
  uint64_t max_spool_bytes = ipc::kDefaultMaxSpoolBytes;
  // Wall time of the replay, not counting waits for layers still downloading.
  uint64_t max_seconds = 3600;
};

struct ReplayOutcome {
  ipc::TreeSummary summary;
  std::vector<std::string> warnings;
  uint64_t uncompressed_bytes = 0;
  uint64_t spool_bytes = 0;
};

// rootfs.diff_ids of an image config (JSON), each checked for syntax.
Result<std::vector<std::string>> DiffIdsFromConfig(std::string_view config_json);

// Called every 8 MiB of a layer or 4096 entries, and at each layer's end; `entries` counts
// every layer's so far.
using ReplayProgress = std::function<void(size_t layer, uint64_t uncompressed_bytes, uint64_t entries)>;
// Runs after the last layer, before the tree is emitted (the guest assets go in here).
using AfterLayers = std::function<Result<void>(LayerTree& tree, SpoolWriter& spool, uint32_t next_layer)>;
// Waits until layer `index` is handed over and returns it, fd set. A layer given without
// an fd (-1) is waited for when its reader is about to start, so the replay can begin
// before the last layer's download does; the wait does not count against max_seconds.
using AwaitLayer = std::function<Result<LayerInput>(size_t index)>;

Result<ReplayOutcome> ReplayLayers(const std::vector<LayerInput>& layers, const std::vector<std::string>& diff_ids,
                                   int spool_fd, int tree_fd, const ReplayLimits& limits,
                                   const ReplayProgress& progress = nullptr, const AfterLayers& after_layers = nullptr,
                                   const AwaitLayer& await_layer = nullptr);

}  // namespace banger::unpacker
