#include "broker/catalog_pull.h"

#include <fcntl.h>
#include <unistd.h>


#include "banger_version.h"
#include "broker/blob_cache.h"
#include "broker/cache_lease.h"
#include "broker/cli_output.h"
#include "broker/helper_paths.h"
#include "broker/image_store.h"
#include "broker/user_dirs.h"

namespace banger::broker {
namespace {

using nlohmann::json;

constexpr int kExtractTimeoutMs = 60 * 60 * 1000;



// The bundle in the verified cache: downloaded unless it is there already.
Result<UniqueFd> CachedBundle(const BlobCache& cache, const CatalogEntry& entry, const PullOptions& options) {
  const std::string digest = "sha256:" + entry.sha256;
  if (auto cached = cache.OpenBlob(digest, entry.size)) {
    if (options.progress != nullptr) options.progress->Fetch({FetchEvent::kCached, digest, entry.size, entry.size});
    return std::move(*cached);
  }
  BANGER_ASSIGN_OR_RETURN(UniqueFd incoming, cache.CreateIncoming());
  auto progress = [&](uint64_t bytes, uint64_t total) {
    if (options.progress != nullptr) options.progress->Fetch({FetchEvent::kProgress, digest, bytes, total});
  };
  if (options.progress != nullptr) options.progress->Fetch({FetchEvent::kStarted, digest, 0, entry.size});
  auto downloaded = DownloadUrl(entry.url, entry.size, incoming.get(), progress, entry.size);
  if (!downloaded) return downloaded.error().Wrap("catalog image " + entry.name);
  BANGER_TRY(cache.Commit(incoming, digest, entry.size, "bundle of " + entry.name));
  if (options.progress != nullptr) options.progress->Fetch({FetchEvent::kDone, digest, entry.size, entry.size});
  auto opened = cache.OpenBlob(digest, entry.size);
  if (!opened) return Error{ErrorCode::kNotFound, "bundle " + digest + " left the cache"};
  return std::move(*opened);
}

}  // namespace

Result<PullResult> PullFromCatalog(const CatalogEntry& entry, const Catalog& catalog, const PullOptions& options) {
  if (options.size_bytes != 0) {
    return Error{ErrorCode::kInvalidArgument, "--size does not apply to catalog image " + entry.name +
                                                  " (its rootfs.ext4 comes built)"};
  }
  BANGER_ASSIGN_OR_RETURN(PullTarget target, OpenPullTarget(options.name.empty() ? entry.name : options.name, options));
  const std::string& name = target.name;
  const ImageStore& store = target.store;
  const BlobCache& cache = target.cache;
  BANGER_ASSIGN_OR_RETURN(std::unique_ptr<CacheLease> lease, CacheLease::Take(cache.oci_dir()));
  BANGER_TRY(lease->Hold({"sha256:" + entry.sha256}));

  ReportPhase(options, "resolving", "catalog image " + entry.name + " from " + catalog.source);
  auto cached = CachedBundle(cache, entry, options);
  if (!cached) return WhereFull(cached.error(), cache.oci_dir() + "/blobs", "the bundle");
  UniqueFd bundle = std::move(*cached);

  const std::string& images_dir = store.images_dir();
  auto begun = store.BeginStaging();
  if (!begun) return WhereFull(begun.error(), images_dir, "a staging directory");
  ImageStore::Staging staging = std::move(*begun);
  auto abandon = [&](Error error) {
    store.Abandon(staging);
    return WhereFull(std::move(error), images_dir, "rootfs.ext4");
  };
  UniqueFd rootfs(::open((staging.dir + "/rootfs.ext4").c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!rootfs) return abandon(Error::FromErrno("creating rootfs.ext4 in " + staging.dir));
  ReportPhase(options, "unpacking", "extracting rootfs.ext4 in the sandbox");
  auto unpacker = StartHelper(security::ProcessKind::kUnpacker);
  if (!unpacker) return abandon(unpacker.error());
  ipc::Message request = ipc::Message::WithJson(ipc::MessageType::kExtractBundle, json::object());
  request.fds.push_back(std::move(bundle));
  request.fds.push_back(UniqueFd(::fcntl(rootfs.get(), F_DUPFD_CLOEXEC, 0)));
  if (auto sent = unpacker->Send(request); !sent) return abandon(sent.error());
  auto reply = unpacker->ReceiveExpecting({ipc::MessageType::kBundleExtracted}, kExtractTimeoutMs);
  if (!reply) return abandon(reply.error().Wrap("bundle of catalog image " + entry.name));
  auto body = reply->Json();
  if (!body || !body->is_object()) return abandon(Error{ErrorCode::kChildFailed, "banger-unpacker: a malformed reply"});
  (void)unpacker->Send(ipc::Message::Make(ipc::MessageType::kShutdown));
  if (security::ChildExit end = unpacker->Wait(10000); end.signaled || end.code != 0) {
    return abandon(Error{ErrorCode::kChildFailed, "banger-unpacker " + end.Describe() + " at shutdown"});
  }
  if (::fsync(rootfs.get()) != 0) return abandon(Error::FromErrno("fsync of rootfs.ext4"));

  PullResult result;
  result.filesystem_bytes = body->value("rootfs_bytes", uint64_t{0});
  const json manifest = body->value("manifest", json::object());
  json record = {{"name", name},
                 {"ref", entry.name},
                 {"source", "catalog"},
                 {"catalog", catalog.source},
                 {"bundle_digest", "sha256:" + entry.sha256},
                 {"bundle_manifest", manifest},
                 {"distro", entry.distro},
                 {"platform", entry.arch.empty() ? "" : "linux/" + entry.arch},
                 {"kernel_ref", options.kernel_ref.empty() ? entry.kernel_ref : options.kernel_ref},
                 {"filesystem_bytes", result.filesystem_bytes},
                 {"created", UtcNow()},
                 {"banger_version", BANGER_VERSION},
                 {"warnings", json::array()}};
  ReportPhase(options, "written", "wrote rootfs.ext4 (" + HumanBytes(result.filesystem_bytes) + ")");
  auto published = store.Publish(staging, record, options.force);
  if (!published) {
    store.Abandon(staging);
    return WhereFull(published.error(), images_dir, "image.json");
  }
  result.image = *published;
  return result;
}

}  // namespace banger::broker
