// The fetch stage of a pull, on the broker side: start the sandboxed fetcher, have it
// resolve the reference to one platform's manifest, then download every blob the cache
// lacks (in parallel) into unnamed cache files that the broker verifies and links in.
// The broker checks digests and sizes; it never trusts the fetcher's word on them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/platform.h"
#include "base/reference.h"
#include "base/result.h"
#include "broker/host/helpers.h"
#include "broker/pull/events.h"
#include "broker/registry/certificates.h"
#include "broker/registry/credentials.h"
#include "broker/store/blob_cache.h"
#include "broker/store/cache_lease.h"
#include "broker/trust/trust_policy.h"
#include "broker/trust/verdict.h"

namespace banger::broker {

struct FetchedImage;

struct FetchOptions {
  std::string reference;  // as the user wrote it
  // --platform: what to pick from an index, and what a single manifest must be. Empty:
  // linux/amd64 from an index, and a single manifest as it is.
  std::string platform;
  std::vector<std::string> insecure_registries;  // hosts that may use plain HTTP
  std::vector<std::string> egress_allow;         // CIDR ranges redirects may reach (config key)
  // A tenant's request through bangerd: the registry's own address is held to the egress
  // rule too, unless insecure_registries or mirrors (the host's config) name it.
  bool tenant = false;
  int parallel_downloads = 3;
  // The slowest a blob may arrive: after `download_grace_seconds`, at
  // `min_download_rate` bytes per second on average over the whole blob, or the pull
  // stops, so a registry (or a fetcher) that trickles cannot hold a pull forever.
  uint64_t min_download_rate = 16 * 1024;
  uint64_t download_grace_seconds = 300;
  uint64_t max_document_bytes = 4 << 20;
  uint64_t max_layers = 128;
  // Credentials for a registry; unset means anonymous.
  std::function<Result<RegistryCredentials>(const std::string& registry)> credentials;
  // Where <dir>/<registry>/*.crt name extra CAs to trust for that registry.
  std::vector<std::string> certs_dirs = kDefaultCertsDirs;
  // Pull-through mirrors of the reference's registry ("host[:port]"), tried in order
  // before it (config key `mirrors`).
  std::vector<std::string> mirrors;
  // Where the fetcher is and how it starts (its user, resolver, proxies, stop fd).
  HelperLauncher::Settings helpers;
  // The signature policy (docs/signatures.md), applied after the resolve and before any
  // blob, to the reference as written even when a mirror serves it; null: none.
  const TrustPolicy* trust = nullptr;
  // `image verify`: stop once the verdict is made, accepted or not (FetchedImage::trust
  // holds it); no plan goes out and no blob moves.
  bool verdict_only = false;

  std::function<void(const FetchEvent&)> on_event;
  // For unpacking while layers download: the plan once the manifest is verified, and
  // each download's (still filling) cache file as it starts. Not called for mirrors,
  // which may fail over to the registry with another plan.
  std::function<void(const FetchedImage&)> on_plan;
  std::function<void(const std::string& digest, int file_fd)> on_download_started;
  // The image's platform, read from its verified config before any layer downloads; an
  // error here ends the fetch (a pull refuses an image its guest agent cannot run in).
  std::function<Result<void>(const Platform& platform)> on_platform;
};

struct FetchedBlob {
  std::string digest;
  uint64_t size = 0;
  std::string media_type;
  bool from_cache = false;
};

struct FetchedImage {
  Reference reference;
  std::string manifest_digest;
  std::string resolved_digest;  // what the reference named: the outermost index, or the manifest
  std::string manifest_media_type;
  std::string platform;        // from the image config: os/architecture[/variant]
  std::string index_platform;  // what the index entry it was chosen from said; empty for none
  FetchedBlob config;
  std::vector<FetchedBlob> layers;  // oldest first
  uint64_t downloaded_bytes = 0;
  bool used_network = true;
  bool credentialed = false;  // resolved with credentials: shares nothing (BlobCache::MarkShared)
  uint64_t fetcher_peak_rss_kib = 0;  // 0 when no fetcher ran
  std::string mirror;                 // the mirror that served it, empty for the registry
  std::optional<TrustVerdict> trust;  // the signature policy's verdict; none without a policy
  // Keeps this image's blobs from `image cache prune` while the image is in use.
  std::shared_ptr<CacheLease> lease;

  std::vector<std::string> Digests() const;
};

Result<FetchedImage> FetchImage(const BlobCache& cache, const FetchOptions& options);

}  // namespace banger::broker
