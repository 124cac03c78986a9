// `banger image pull` for OCI references: fetch (sandboxed fetcher, verified cache),
// unpack (sandboxed unpacker) streaming into the image writer (sandboxed imager)
// through a pipe, then publish atomically into the image store.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "broker/blob_cache.h"
#include "broker/image_fetch.h"
#include "broker/image_store.h"
#include "broker/progress.h"
#include "base/result.h"

namespace banger::broker {

struct PullOptions {
  std::string reference;
  std::string name;        // default: from the reference (debian-bookworm)
  std::string kernel_ref;  // recorded in image.json
  std::string platform;  // --platform; empty: linux/amd64 from an index, a single image as it is
  uint64_t size_bytes = 0;  // 0: content x 1.5, at least 1 GiB
  std::vector<std::string> insecure_registries;
  std::map<std::string, std::vector<std::string>> mirrors;  // registry -> pull-through mirrors
  int parallel_downloads = 3;
  bool force = false;
  bool guest_assets = true;
  std::string catalog_source;  // --catalog; default: $BANGER_CATALOG, /etc/banger/catalog.json, built in  // inject banger's agent, scripts and units (architecture.md)
  std::string cache_root;  // default: DefaultCacheRoot()
  std::string state_root;  // default: DefaultStateRoot()
  // Credentials for the registry; default: the docker config.
  std::function<Result<RegistryCredentials>(const std::string&)> credentials;
  PullProgress* progress = nullptr;  // what the user sees while it runs (may be null)
  // Unpack bounds by name (UnpackLimitNames()); unset ones keep their defaults.
  std::map<std::string, uint64_t> unpack_limits;
};

struct PullResult {
  StoredImage image;
  uint64_t filesystem_bytes = 0;
  uint64_t content_bytes = 0;
  std::vector<std::string> warnings;
  std::map<std::string, uint64_t> peak_rss_kib;  // each helper's VmHWM, for benchmarks
  std::string guest_init;  // systemd, openrc, systemd+openrc or none; empty without assets
};

Result<PullResult> PullImage(const PullOptions& options);

// What the OCI and the catalog paths share before they fetch: the image name checked
// (taken already and no --force: refused early; Publish checks again), the store opened
// (stale staging cleared), and the blob cache.
struct PullTarget {
  std::string name;
  ImageStore store;
  BlobCache cache;
};
Result<PullTarget> OpenPullTarget(const std::string& name, const PullOptions& options);

// One phase line (or --json event) through options.progress, when there is one.
void ReportPhase(const PullOptions& options, const std::string& phase, const std::string& text,
                 const nlohmann::json& detail = {});
// "2026-11-27T03:04:05Z", image.json's `created`.
std::string UtcNow();
// A full filesystem (ENOSPC, EDQUOT) named by the directory that filled and what was
// being written there ("no space left in /var/lib/banger/images while writing
// rootfs.ext4"): a helper can only say "No space left on device". Other errors pass.
Error WhereFull(Error error, const std::string& dir, const std::string& what);

// The names --limit accepts.
const std::vector<std::string>& UnpackLimitNames();

}  // namespace banger::broker
