// `banger image pull`: a catalog name takes the bundle fast path (catalog_pull.h);
// anything else is an OCI reference: fetch (sandboxed fetcher, verified cache), unpack
// (sandboxed unpacker, or the unpacked cache) streaming into the image writer (sandboxed
// imager) through a pipe, then publish atomically into the image store
// (docs/architecture.md, "The data path of one pull"). Every input is explicit.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "broker/host/helpers.h"
#include "broker/pull/events.h"
#include "broker/registry/catalog.h"
#include "broker/registry/certificates.h"
#include "broker/registry/credentials.h"
#include "broker/store/blob_cache.h"
#include "broker/store/image_store.h"
#include "broker/trust/trust_policy.h"
#include "ipc/unpack_protocol.h"

namespace banger::broker {

struct PullOptions {
  std::string reference;
  std::string name;        // default: from the reference (debian-bookworm)
  std::string kernel_ref;  // recorded in image.json
  std::string platform;    // --platform; empty: linux/amd64 from an index, a single image as it is
  uint64_t size_bytes = 0;  // 0: content x 1.5, at least 1 GiB
  std::vector<std::string> insecure_registries;
  std::vector<std::string> egress_allow;  // the config's (fetch.h)
  bool tenant = false;                     // a tenant's request through bangerd (fetch.h)
  std::map<std::string, std::vector<std::string>> mirrors;  // registry -> pull-through mirrors
  int parallel_downloads = 3;
  uint64_t min_download_rate = 16 * 1024;  // fetch.h
  uint64_t download_grace_seconds = 300;
  bool force = false;
  bool guest_assets = true;  // inject banger's agent, scripts and units (docs/guest.md)
  CatalogSources catalog;
  std::string cache_root;    // the blob cache's root (CacheLayout)
  std::string state_root;    // the image store's root
  StoreQuota quota;          // a tenant's, held when the image is published
  std::string scratch_root = "/tmp";  // where a pull's scratch directory goes ($TMPDIR)
  // Credentials for a registry; unset means anonymous.
  std::function<Result<RegistryCredentials>(const std::string& registry)> credentials;
  std::vector<std::string> certs_dirs = kDefaultCertsDirs;
  HelperLauncher::Settings helpers;   // where the helpers are, their user, the stop fd
  const TrustPolicy* trust = nullptr;  // the signature policy (fetch.h); null: none
  PullObserver* observer = nullptr;   // what the user sees while it runs (may be null)
  ipc::UnpackLimits unpack_limits;    // unset bounds keep the unpacker's defaults
  // A test hook, honoured only by builds configured for the test suite
  // (BANGER_TEST_HOOKS): the pull writes "name pid" lines for its running helpers into
  // this file and waits (at most two minutes, or until stopped) for the file to go.
  std::string test_stall_file;
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

// One phase line (or --json event) through options.observer, when there is one.
void ReportPhase(const PullOptions& options, const std::string& phase, const std::string& text,
                 const nlohmann::json& detail = {});
// "2026-11-27T03:04:05Z", image.json's `created`.
std::string UtcNow();
// A full filesystem (ENOSPC, EDQUOT) named by the directory that filled and what was
// being written there ("no space left in /var/lib/banger/images while writing
// rootfs.ext4"): a helper can only say "No space left on device". Other errors pass.
Error WhereFull(Error error, const std::string& dir, const std::string& what);

}  // namespace banger::broker
