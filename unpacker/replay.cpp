#include "unpacker/replay.h"

#include <chrono>

#include <nlohmann/json.hpp>

#include "base/digest.h"
#include "base/json.h"
#include "base/text.h"
#include "ipc/channel.h"
#include "ipc/filesystem_plan.h"
#include "unpacker/tar_reader.h"

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

Result<ReplayOutcome> ReplayLayers(const std::vector<LayerInput>& layers, const std::vector<std::string>& diff_ids,
                                   int spool_fd, int tree_fd, const ReplayLimits& limits,
                                   const ReplayProgress& progress, const AfterLayers& after_layers) {
  if (layers.size() != diff_ids.size()) {
    return Error{ErrorCode::kMalformed, "the manifest lists " + std::to_string(layers.size()) +
                                            " layers but the config has " + std::to_string(diff_ids.size()) +
                                            " diff_ids"};
  }
  ReplayOutcome outcome;
  LayerTree tree(limits.tree);
  SpoolWriter spool(spool_fd, ipc::kDataRegionStart);  // the image's data region (filesystem_plan.h)
  const auto started = std::chrono::steady_clock::now();
  std::chrono::nanoseconds waited_before{0};  // for downloads, in the layers done
  uint64_t entries_read = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    const std::string name = "layer " + layers[i].digest;
    tree.BeginLayer(static_cast<uint32_t>(i), name);
    StreamLimits stream_limits = limits.stream;
    stream_limits.max_uncompressed_bytes =
        std::min(stream_limits.max_uncompressed_bytes, limits.max_total_uncompressed_bytes - outcome.uncompressed_bytes);
    BANGER_ASSIGN_OR_RETURN(auto stream, LayerStream::Open(layers[i].fd, name, stream_limits, layers[i].grows_to));
    BANGER_ASSIGN_OR_RETURN(auto reader, TarReader::Open(*stream, limits.max_header_bytes));
    // The bounds on what costs: time (inflating zeros costs CPU, not space) and the
    // bytes the spool actually holds.
    auto within_bounds = [&](const TarEntry& entry) -> Result<void> {
      const auto busy = std::chrono::steady_clock::now() - started - waited_before - stream->waited();
      if (busy > std::chrono::seconds(limits.max_seconds)) {
        return Error{ErrorCode::kTimeout, name + ": still unpacking '" + Printable(entry.path) + "' after " +
                                              std::to_string(limits.max_seconds) +
                                              " seconds (the time bound, max_unpack_seconds)"};
      }
      if (spool.bytes_written() > limits.max_spool_bytes) {
        return Error{ErrorCode::kOversized, name + ": '" + Printable(entry.path) + "' takes the image's file data past " +
                                                std::to_string(limits.max_spool_bytes) +
                                                " bytes, holes not counted (the data bound, max_spool_bytes)"};
      }
      return {};
    };
    uint64_t reported = 0, reported_entries = entries_read;
    for (;;) {
      BANGER_ASSIGN_OR_RETURN(std::optional<TarEntry> entry, reader->Next());
      if (!entry) break;
      BANGER_TRY(within_bounds(*entry));
      auto read_data = [&]() -> Result<std::vector<ipc::Extent>> {
        BANGER_TRY(reader->ReadData([&](uint64_t offset, const char* data, size_t size) -> Result<void> {
          if (offset + size > entry->size) {
            return Error{ErrorCode::kMalformed, name + ": data of '" + Printable(entry->path) +
                                                    "' runs past its declared size"};
          }
          BANGER_TRY(spool.Append(offset, data, size));
          return within_bounds(*entry);
        }));
        return spool.TakeExtents();
      };
      BANGER_TRY(tree.Apply(*entry, read_data));
      ++entries_read;
      if (progress && (stream->uncompressed_bytes() - reported > (8u << 20) || entries_read - reported_entries >= 4096)) {
        reported = stream->uncompressed_bytes();
        reported_entries = entries_read;
        progress(i, reported, entries_read);
      }
    }
    tree.EndLayer();
    BANGER_TRY(stream->Drain());
    waited_before += stream->waited();
    const std::string digest = stream->Digest();
    if (digest != diff_ids[i]) {
      return Error{ErrorCode::kMalformed, name + ": its uncompressed content hashes to " + digest +
                                              ", but the image config says " + diff_ids[i] + " (diff_id)"};
    }
    outcome.uncompressed_bytes += stream->uncompressed_bytes();
    if (progress) progress(i, stream->uncompressed_bytes(), entries_read);
  }
  if (after_layers) BANGER_TRY(after_layers(tree, spool, static_cast<uint32_t>(layers.size())));
  BANGER_TRY(spool.Flush());
  outcome.spool_bytes = spool.bytes_written();
  outcome.summary = tree.Summarize();
  outcome.warnings = tree.warnings();
  ipc::TreeStreamWriter writer(tree_fd);
  BANGER_TRY(tree.Emit(writer));
  return outcome;
}

}  // namespace banger::unpacker
