#include "unpacker/replay.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "base/digest.h"
#include "base/json.h"
#include "base/text.h"
#include "ipc/channel.h"
#include "ipc/filesystem_plan.h"
#include "unpacker/layer_reader.h"

namespace banger::unpacker {

Result<std::vector<std::string>> DiffIdsFromConfig(std::string_view config_json) {
  BANGER_ASSIGN_OR_RETURN(nlohmann::json config, ParseJsonBounded(config_json, 64));
  if (!config.is_object() || !config.contains("rootfs") || !config["rootfs"].is_object()) {
    return Error{ErrorCode::kMalformed, "image config has no rootfs object"};
  }
  const auto& rootfs = config["rootfs"];
  if (rootfs.value("type", "") != "layers" || !rootfs.contains("diff_ids") || !rootfs["diff_ids"].is_array()) {
    return Error{ErrorCode::kMalformed, "image config's rootfs is not {type: layers, diff_ids: [...]}"};
  }
  std::vector<std::string> ids;
  for (const auto& id : rootfs["diff_ids"]) {
    if (!id.is_string()) return Error{ErrorCode::kMalformed, "image config has a diff_id that is not a string"};
    BANGER_TRY(CheckDigest(id.get<std::string>(), "the image config's diff_ids"));
    ids.push_back(id.get<std::string>());
  }
  return ids;
}

namespace {

// Layer `i`'s reader, started with what every reader shares.
struct Readers {
  std::vector<LayerInput> layers;
  const AwaitLayer& await_layer;
  LayerReadBounds bounds;
  int region_fd;
  RegionSpace& region;
  ReplayClock& clock;
  std::vector<std::unique_ptr<LayerReader>> started;

  // Layer `i` is read ahead of the tree from now on; its window is reserved first. The
  // layers before it that are done took `done_bytes` of the image's uncompressed bound.
  Result<void> Start(size_t i, uint64_t done_bytes, uint64_t max_total_bytes) {
    if (i >= layers.size()) return {};
    if (layers[i].fd < 0) BANGER_TRY(Await(i));
    if (i > 0) {
      BANGER_ASSIGN_OR_RETURN(const uint64_t blob_bytes, BlobBytes(layers[i]));
      region.Reserve(static_cast<uint32_t>(i), std::min(blob_bytes, kMaxWindowBytes),
                     region.base() + std::min(bounds.max_spool_bytes, UINT64_MAX - region.base()));
    }
    LayerReadBounds own = bounds;
    if (max_total_bytes - done_bytes < own.stream.max_uncompressed_bytes) {
      own.stream.max_uncompressed_bytes = max_total_bytes - done_bytes;
      own.stream.bound_name = "what the total size bound, max_total_bytes, leaves after the layers before it";
    }
    BANGER_ASSIGN_OR_RETURN(started[i], LayerReader::Start(static_cast<uint32_t>(i), layers[i].fd, layers[i].grows_to,
                                                           "layer " + layers[i].digest, own, region_fd,
                                                           region, clock));
    return {};
  }

  // Layer `i` is not here yet: its download has not started. Waiting for it is
  // waiting for a download, which the time bound leaves out.
  Result<void> Await(size_t i) {
    if (!await_layer) return Error{ErrorCode::kUnexpected, "layer " + layers[i].digest + " was never handed over"};
    const auto since = std::chrono::steady_clock::now();
    BANGER_ASSIGN_OR_RETURN(LayerInput arrived, await_layer(i));
    clock.waited_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - since).count();
    if (arrived.fd < 0) return Error{ErrorCode::kUnexpected, "layer " + layers[i].digest + " came without its blob"};
    layers[i] = std::move(arrived);
    return {};
  }

  // The compressed blob's size: what the manifest says, so the same for every pull.
  static Result<uint64_t> BlobBytes(const LayerInput& layer) {
    if (layer.grows_to != 0) return layer.grows_to;
    struct stat st {};
    if (::fstat(layer.fd, &st) != 0) return Error::FromErrno("layer " + layer.digest + ": fstat");
    return static_cast<uint64_t>(st.st_size);
  }
  // A layer read ahead writes at most this much before its turn.
  static constexpr uint64_t kMaxWindowBytes = 1ull << 30;
};

}  // namespace

// Two layers are read at once: the one whose entries the tree is taking, and the next
// (docs/unpacker.md, "Layers in parallel"). The tree takes entries strictly in order, so
// what an image means does not depend on which reader ran ahead.
Result<ReplayOutcome> ReplayLayers(const std::vector<LayerInput>& layers, const std::vector<std::string>& diff_ids,
                                   int spool_fd, int tree_fd, const ReplayLimits& limits,
                                   const ReplayProgress& progress, const AfterLayers& after_layers,
                                   const AwaitLayer& await_layer) {
  if (layers.size() != diff_ids.size()) {
    return Error{ErrorCode::kMalformed, "the manifest lists " + std::to_string(layers.size()) +
                                            " layers but the config has " + std::to_string(diff_ids.size()) +
                                            " diff_ids"};
  }
  ReplayOutcome outcome;
  LayerTree tree(limits.tree);
  RegionSpace region(ipc::kDataRegionStart);  // the image's data region (filesystem_plan.h)
  ReplayClock clock;
  LayerReadBounds bounds{limits.stream, limits.max_header_bytes, limits.max_spool_bytes, limits.max_seconds};
  Readers readers{layers, await_layer, bounds, spool_fd, region, clock, {}};
  readers.started.resize(layers.size());
  uint64_t entries_read = 0;
  // Layer 0 is current from the start, and layer 1 read ahead; after each layer, the
  // next becomes current and the one after it starts (its window reserved first).
  const uint64_t max_total = limits.max_total_uncompressed_bytes;
  BANGER_TRY(readers.Start(1, 0, max_total));
  BANGER_TRY(readers.Start(0, 0, max_total));
  // Checked here, in the layers' order, so the same image fails at the same entry
  // whichever reader ran ahead (each reader's own bound leaves room for the layer
  // before it).
  auto within_total = [&](const std::string& name, uint64_t layer_bytes) -> Result<void> {
    if (layer_bytes <= max_total - outcome.uncompressed_bytes) return {};
    return Error{ErrorCode::kOversized, name + ": the image's layers uncompress to more than " +
                                            std::to_string(max_total) + " bytes (the total size bound, max_total_bytes)"};
  };
  for (size_t i = 0; i < layers.size(); ++i) {
    LayerReader& reader = *readers.started[i];
    reader.BecameCurrent();
    const std::string name = "layer " + layers[i].digest;
    tree.BeginLayer(static_cast<uint32_t>(i), name);
    uint64_t reported = 0, reported_entries = entries_read;
    for (;;) {
      BANGER_ASSIGN_OR_RETURN(std::optional<ReadEntry> read, reader.Next());
      if (!read) break;
      BANGER_TRY(within_total(name, read->uncompressed_bytes));
      auto read_data = [&read]() -> Result<std::vector<ipc::Extent>> { return std::move(read->data); };
      BANGER_TRY(tree.Apply(read->entry, read_data));
      ++entries_read;
      if (progress && (read->uncompressed_bytes - reported > (8u << 20) || entries_read - reported_entries >= 4096)) {
        reported = read->uncompressed_bytes;
        reported_entries = entries_read;
        progress(i, reported, entries_read);
      }
    }
    tree.EndLayer();
    BANGER_TRY(within_total(name, reader.uncompressed_bytes()));
    if (reader.digest() != diff_ids[i]) {
      return Error{ErrorCode::kMalformed, name + ": its uncompressed content hashes to " + reader.digest() +
                                              ", but the image config says " + diff_ids[i] + " (diff_id)"};
    }
    outcome.uncompressed_bytes += reader.uncompressed_bytes();
    if (progress) progress(i, reader.uncompressed_bytes(), entries_read);
    readers.started[i].reset();
    BANGER_TRY(readers.Start(i + 2, outcome.uncompressed_bytes, max_total));
    region.MakeCurrent(static_cast<uint32_t>(i + 1));
  }
  SpoolWriter spool(spool_fd, region, static_cast<uint32_t>(layers.size()));
  if (after_layers) BANGER_TRY(after_layers(tree, spool, static_cast<uint32_t>(layers.size())));
  BANGER_TRY(spool.Flush());
  outcome.spool_bytes = region.length();
  outcome.summary = tree.Summarize();
  outcome.warnings = tree.warnings();
  ipc::TreeStreamWriter writer(tree_fd);
  BANGER_TRY(tree.Emit(writer));
  return outcome;
}

}  // namespace banger::unpacker
