#include "broker/pull/catalog_pull.h"

#include "banger_version.h"
#include "base/text.h"
#include "broker/pull/helper_start.h"
#include "broker/pull/url_download.h"
#include "broker/store/cache_lease.h"
#include "broker/store/files.h"
#include "ipc/unpack_protocol.h"

namespace banger::broker {
namespace {

using nlohmann::json;

constexpr int kExtractTimeoutMs = 60 * 60 * 1000;

void Report(const PullOptions& options, FetchEvent::Kind kind, const std::string& digest, uint64_t bytes, uint64_t total) {
  if (options.observer != nullptr) options.observer->Fetch({kind, digest, bytes, total});
}

// The bundle in the verified cache: downloaded unless it is there already.
Result<UniqueFd> CachedBundle(const BlobCache& cache, const CatalogEntry& entry, const PullOptions& options) {
  const std::string digest = "sha256:" + entry.sha256;
  if (auto cached = cache.OpenBlob(digest, entry.size)) {
    Report(options, FetchEvent::kCached, digest, entry.size, entry.size);
    return std::move(*cached);
  }
  BANGER_ASSIGN_OR_RETURN(IncomingBlob incoming, cache.Begin(digest, entry.size, "bundle of " + entry.name));
  Report(options, FetchEvent::kStarted, digest, 0, entry.size);
  auto downloaded = DownloadUrl(
      HelperLauncher(options.helpers), entry.url, entry.size, [&](int pipe) { return incoming.ReceiveFrom(pipe); },
      [&](uint64_t bytes) { Report(options, FetchEvent::kProgress, digest, bytes, entry.size); });
  if (!downloaded) return downloaded.error().Wrap("catalog image " + entry.name);
  BANGER_TRY(incoming.Commit());
  Report(options, FetchEvent::kDone, digest, entry.size, entry.size);
  auto opened = cache.OpenBlob(digest, entry.size);
  if (!opened) return Error{ErrorCode::kNotFound, "bundle " + digest + " left the cache"};
  return std::move(*opened);
}

// The unpacker extracts rootfs.ext4 from the bundle into `rootfs`.
Result<ipc::BundleExtracted> Extract(const PullOptions& options, const CatalogEntry& entry, UniqueFd bundle,
                                     int rootfs) {
  BANGER_ASSIGN_OR_RETURN(security::SandboxedChild unpacker,
                          HelperLauncher(options.helpers).Start(security::ProcessKind::kUnpacker));
  ipc::Message request = ipc::Message::Make(ipc::MessageType::kExtractBundle, ipc::Encode(ipc::ExtractRequest{}));
  request.fds.push_back(std::move(bundle));
  BANGER_ASSIGN_OR_RETURN(UniqueFd out, DupCloexec(rootfs));
  request.fds.push_back(std::move(out));
  BANGER_TRY(unpacker.Send(request));
  auto reply = unpacker.ReceiveExpecting({ipc::MessageType::kBundleExtracted}, kExtractTimeoutMs);
  if (!reply) return reply.error().Wrap("bundle of catalog image " + entry.name);
  auto extracted = ipc::Decode<ipc::BundleExtracted>(reply->body);
  if (!extracted) return unpacker.BrokeProtocol(extracted.error().message);
  BANGER_TRY(unpacker.Shutdown(kHelperShutdownTimeoutMs));
  return std::move(*extracted);
}

json RecordOf(const std::string& name, const CatalogEntry& entry, const Catalog& catalog, const PullOptions& options,
              const ipc::BundleExtracted& extracted) {
  const ipc::BundleManifest& m = extracted.manifest;
  return {{"name", name},
          {"ref", entry.name},
          {"source", "catalog"},
          {"catalog", catalog.source},
          {"bundle_digest", "sha256:" + entry.sha256},
          {"bundle_manifest", {{"name", m.name}, {"distro", m.distro}, {"arch", m.arch}, {"kernel_ref", m.kernel_ref}}},
          {"distro", entry.distro},
          {"platform", entry.arch.empty() ? "" : "linux/" + entry.arch},
          {"kernel_ref", options.kernel_ref.empty() ? entry.kernel_ref : options.kernel_ref},
          {"filesystem_bytes", extracted.rootfs_bytes},
          {"created", UtcNow()},
          {"banger_version", BANGER_VERSION},
          {"warnings", json::array()}};
}

}  // namespace

Result<PullResult> PullFromCatalog(const CatalogEntry& entry, const Catalog& catalog, const PullOptions& options) {
  if (options.size_bytes != 0) {
    return Error{ErrorCode::kInvalidArgument, "--size does not apply to catalog image " + entry.name +
                                                  " (its rootfs.ext4 comes built)"};
  }
  BANGER_ASSIGN_OR_RETURN(PullTarget target, OpenPullTarget(options.name.empty() ? entry.name : options.name, options));
  const ImageStore& store = target.store;
  BANGER_ASSIGN_OR_RETURN(std::unique_ptr<CacheLease> lease, CacheLease::Take(target.cache.layout()));
  BANGER_TRY(lease->Hold({"sha256:" + entry.sha256}));

  ReportPhase(options, "resolving", "catalog image " + entry.name + " from " + catalog.source);
  auto bundle = CachedBundle(target.cache, entry, options);
  if (!bundle) return WhereFull(bundle.error(), target.cache.layout().oci_dir() + "/blobs", "the bundle");
  auto image_failed = [&](Error error) { return WhereFull(std::move(error), store.images_dir(), "rootfs.ext4"); };
  auto staging = store.BeginStaging();
  if (!staging) return WhereFull(staging.error(), store.images_dir(), "a staging directory");
  auto rootfs = staging->CreateRootfs();
  if (!rootfs) return image_failed(rootfs.error());
  ReportPhase(options, "unpacking", "extracting rootfs.ext4 in the sandbox");
  auto extracted = Extract(options, entry, std::move(*bundle), rootfs->get());
  if (!extracted) return image_failed(extracted.error());
  if (auto synced = FsyncFd(rootfs->get(), "rootfs.ext4"); !synced) return image_failed(synced.error());
  ReportPhase(options, "written", "wrote rootfs.ext4 (" + HumanBytes(extracted->rootfs_bytes) + ")");
  auto published = store.Publish(std::move(*staging), RecordOf(target.name, entry, catalog, options, *extracted),
                                 options.force);
  if (!published) return WhereFull(published.error(), store.images_dir(), "image.json");
  PullResult result;
  result.filesystem_bytes = extracted->rootfs_bytes;
  result.image = published->image;
  if (published->warning) result.warnings.push_back(*published->warning);
  return result;
}

}  // namespace banger::broker
