// The unpacker's messages (messages.h kUnpack*, kExtractBundle, kBundleExtracted), one
// struct per body, shared by both ends. Every decoder is strict: each field typed and
// bounded, unknown keys refused, so a compromised unpacker's reply is a named error in
// the broker and never an exception or an unbounded value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace banger::ipc {

inline constexpr size_t kMaxUnpackLayers = 1024;
inline constexpr size_t kMaxUnpackWarnings = 100;
inline constexpr size_t kMaxWarningBytes = 4096;
inline constexpr size_t kMaxGuestPaths = 256;

// The unpack bounds a pull may set (docs/unpacker.md); unset ones keep the unpacker's own
// defaults.
struct UnpackLimits {
  std::optional<uint64_t> max_layer_bytes, max_total_bytes, max_spool_bytes, max_unpack_seconds, max_entries,
      max_depth, max_path_bytes, zstd_window_log_max, max_header_bytes;

  // The names --limit and the config take, in the order --help lists them.
  static const std::vector<std::string>& Names();
  // The bound called `name`, or null for a name that is none.
  std::optional<uint64_t>* Find(std::string_view name);
  bool operator==(const UnpackLimits&) const = default;
};

struct UnpackLayerRef {
  std::string digest;
  std::string media_type;
  bool operator==(const UnpackLayerRef&) const = default;
};

// kUnpackBegin; fds: the image config, the spool (read-write), the tree stream's write end.
struct UnpackRequest {
  std::vector<UnpackLayerRef> layers;  // oldest first
  UnpackLimits limits;
  bool inject_guest_assets = false;
  bool operator==(const UnpackRequest&) const = default;
};

// kUnpackLayer; fd: the layer blob, read-only.
struct LayerHandOff {
  uint64_t index = 0;
  // Set while the blob still downloads: the size it grows to, which the unpacker waits for.
  std::optional<uint64_t> grows_to;
  bool operator==(const LayerHandOff&) const = default;
};

// kUnpackProgress.
struct UnpackProgress {
  uint64_t layer = 0;
  uint64_t bytes = 0;  // uncompressed bytes of that layer read so far
  bool operator==(const UnpackProgress&) const = default;
};

struct GuestReport {
  std::string init;  // systemd, openrc, systemd+openrc or none
  std::vector<std::string> injected;  // guest paths banger wrote
  std::vector<std::string> replaced;  // image paths banger's files replaced
  bool operator==(const GuestReport&) const = default;
};

// kUnpackDone.
struct UnpackSummary {
  uint64_t entries = 0, inodes = 0, directories = 0;
  uint64_t data_bytes = 0, apparent_bytes = 0, metadata_bytes = 0;
  uint64_t uncompressed_bytes = 0, spool_bytes = 0;
  std::vector<std::string> warnings;
  std::optional<GuestReport> guest;  // absent without guest assets
  bool operator==(const UnpackSummary&) const = default;
};

// kExtractBundle; fds: the bundle (read-only), rootfs.ext4 (read-write).
struct ExtractRequest {
  std::optional<uint64_t> max_rootfs_bytes;
  bool operator==(const ExtractRequest&) const = default;
};

// A catalog bundle's manifest.json, as the unpacker checked it.
struct BundleManifest {
  std::string name, distro, arch, kernel_ref;
  bool operator==(const BundleManifest&) const = default;
};
inline constexpr size_t kMaxBundleField = 256;

// kBundleExtracted.
struct BundleExtracted {
  BundleManifest manifest;
  uint64_t rootfs_bytes = 0;
  bool operator==(const BundleExtracted&) const = default;
};

std::string Encode(const UnpackRequest& request);
Result<UnpackRequest> DecodeUnpackRequest(std::string_view body);
std::string Encode(const LayerHandOff& hand_off);
Result<LayerHandOff> DecodeLayerHandOff(std::string_view body);
std::string Encode(const UnpackProgress& progress);
Result<UnpackProgress> DecodeUnpackProgress(std::string_view body);
std::string Encode(const UnpackSummary& summary);
Result<UnpackSummary> DecodeUnpackSummary(std::string_view body);
std::string Encode(const ExtractRequest& request);
Result<ExtractRequest> DecodeExtractRequest(std::string_view body);
std::string Encode(const BundleExtracted& extracted);
Result<BundleExtracted> DecodeBundleExtracted(std::string_view body);

}  // namespace banger::ipc
