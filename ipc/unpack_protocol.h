// The unpacker's messages (messages.h kUnpack*, kExtractBundle, kBundleExtracted), one
// struct per body, shared by both ends; each lists its fields once (fields.h), which
// both encodes it and decodes it strictly, so a compromised unpacker's reply is a named
// error in the broker and never an exception or an unbounded value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ipc/fields.h"

namespace banger::ipc {

inline constexpr size_t kMaxUnpackLayers = 1024;
inline constexpr size_t kMaxUnpackWarnings = 100;
inline constexpr size_t kMaxWarningBytes = 4096;
inline constexpr size_t kMaxGuestPaths = 256;
inline constexpr size_t kMaxPathBytes = 4096;
inline constexpr size_t kMaxMediaTypeBytes = 255;
inline constexpr size_t kMaxBundleField = 256;

// What the unpacker writes to the spool when max_spool_bytes is not set: file data only,
// zero blocks left out, so the spool file never grows much past it.
inline constexpr uint64_t kDefaultMaxSpoolBytes = 256ull << 30;

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

  template <class Self, class V>
  static void Fields(Self& s, V& v) {
    v.OptionalUint("max_layer_bytes", s.max_layer_bytes)
        .OptionalUint("max_total_bytes", s.max_total_bytes)
        .OptionalUint("max_spool_bytes", s.max_spool_bytes)
        .OptionalUint("max_unpack_seconds", s.max_unpack_seconds)
        .OptionalUint("max_entries", s.max_entries)
        .OptionalUint("max_depth", s.max_depth)
        .OptionalUint("max_path_bytes", s.max_path_bytes)
        .OptionalUint("zstd_window_log_max", s.zstd_window_log_max)
        .OptionalUint("max_header_bytes", s.max_header_bytes);
  }
};

struct UnpackLayerRef {
  std::string digest;
  std::string media_type;
  bool operator==(const UnpackLayerRef&) const = default;
  template <class Self, class V>
  static void Fields(Self& s, V& v) {
    v.Digest("digest", s.digest).String("media_type", s.media_type, kMaxMediaTypeBytes);
  }
};

// kUnpackBegin; fds: the image config, rootfs.ext4 (write-only: file data goes into its
// data region, filesystem_plan.h; the "spool"), the tree stream's write end.
struct UnpackRequest {
  static constexpr const char* kName = "unpack-begin";
  std::vector<UnpackLayerRef> layers;  // oldest first
  UnpackLimits limits;
  bool inject_guest_assets = false;
  bool operator==(const UnpackRequest&) const = default;
  template <class Self, class V>
  static void Fields(Self& s, V& v) {
    v.Objects("layers", s.layers, kMaxUnpackLayers).Object("limits", s.limits).Bool("inject_guest_assets", s.inject_guest_assets);
  }
};

// kUnpackLayer; fd: the layer blob, read-only.
struct LayerHandOff {
  static constexpr const char* kName = "unpack-layer";
  uint64_t index = 0;
  // Set while the blob still downloads: the size it grows to, which the unpacker waits for.
  std::optional<uint64_t> grows_to;
  bool operator==(const LayerHandOff&) const = default;
  template <class Self, class V>
  static void Fields(Self& s, V& v) {
    v.Uint("index", s.index, kMaxUnpackLayers - 1).OptionalUint("grows_to", s.grows_to);
  }
};

// kUnpackProgress.
struct UnpackProgress {
  static constexpr const char* kName = "unpack-progress";
  uint64_t layer = 0;
  uint64_t bytes = 0;    // uncompressed bytes of that layer read so far
  uint64_t entries = 0;  // entries of every layer read so far (for the display only)
  bool operator==(const UnpackProgress&) const = default;
  template <class Self, class V>
  static void Fields(Self& s, V& v) {
    v.Uint("layer", s.layer, kMaxUnpackLayers - 1).Uint("bytes", s.bytes).Uint("entries", s.entries);
  }
};

struct GuestReport {
  std::string init;                   // systemd, openrc, systemd+openrc or none
  std::vector<std::string> injected;  // guest paths banger wrote
  std::vector<std::string> replaced;  // image paths banger's files replaced
  bool operator==(const GuestReport&) const = default;
  template <class Self, class V>
  static void Fields(Self& s, V& v) {
    v.OneOf("init", s.init, {"systemd", "openrc", "systemd+openrc", "none"})
        .Strings("injected", s.injected, kMaxGuestPaths, kMaxPathBytes)
        .Strings("replaced", s.replaced, kMaxGuestPaths, kMaxPathBytes);
  }
};

// kUnpackDone.
struct UnpackSummary {
  static constexpr const char* kName = "unpack-done";
  uint64_t entries = 0, inodes = 0, directories = 0;
  uint64_t data_bytes = 0, apparent_bytes = 0, metadata_bytes = 0;
  uint64_t uncompressed_bytes = 0, spool_bytes = 0;
  std::vector<std::string> warnings;
  std::optional<GuestReport> guest;  // absent without guest assets
  bool operator==(const UnpackSummary&) const = default;
  template <class Self, class V>
  static void Fields(Self& s, V& v) {
    v.Uint("entries", s.entries).Uint("inodes", s.inodes).Uint("directories", s.directories);
    v.Uint("data_bytes", s.data_bytes).Uint("apparent_bytes", s.apparent_bytes).Uint("metadata_bytes", s.metadata_bytes);
    v.Uint("uncompressed_bytes", s.uncompressed_bytes).Uint("spool_bytes", s.spool_bytes);
    v.Strings("warnings", s.warnings, kMaxUnpackWarnings, kMaxWarningBytes).OptionalObject("guest", s.guest);
  }
};

// kExtractBundle; fds: the bundle (read-only), rootfs.ext4 (read-write).
struct ExtractRequest {
  static constexpr const char* kName = "extract-bundle";
  std::optional<uint64_t> max_rootfs_bytes;
  bool operator==(const ExtractRequest&) const = default;
  template <class Self, class V>
  static void Fields(Self& s, V& v) {
    v.OptionalUint("max_rootfs_bytes", s.max_rootfs_bytes);
  }
};

// A catalog bundle's manifest.json, as the unpacker checked it.
struct BundleManifest {
  std::string name, distro, arch, kernel_ref;
  bool operator==(const BundleManifest&) const = default;
  template <class Self, class V>
  static void Fields(Self& s, V& v) {
    v.String("name", s.name, kMaxBundleField).String("distro", s.distro, kMaxBundleField);
    v.String("arch", s.arch, kMaxBundleField).String("kernel_ref", s.kernel_ref, kMaxBundleField);
  }
};

// kBundleExtracted.
struct BundleExtracted {
  static constexpr const char* kName = "bundle-extracted";
  BundleManifest manifest;
  uint64_t rootfs_bytes = 0;
  bool operator==(const BundleExtracted&) const = default;
  template <class Self, class V>
  static void Fields(Self& s, V& v) {
    v.Object("manifest", s.manifest).Uint("rootfs_bytes", s.rootfs_bytes);
  }
};

}  // namespace banger::ipc
