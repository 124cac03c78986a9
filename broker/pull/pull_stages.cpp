#include "broker/pull/pull_stages.h"

#include "broker/pull/region_copy.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "banger_version.h"
#include "base/text.h"
#include "broker/pull/fs_identity.h"
#include "broker/store/files.h"
#include "ipc/filesystem_plan.h"
#include "ipc/tree_stream.h"
#include "security/proc_status.h"

namespace banger::broker {
namespace {

using nlohmann::json;

// The unpacker keeps its own time bound (max_unpack_seconds); the broker's holds if it does
// not. The grace past the bound leaves time for the helper's own error to arrive: as long as
// the bound itself, at least 5 s and at most 60 s.
constexpr uint64_t kDefaultUnpackSeconds = 3600;
std::chrono::milliseconds BrokerTimeBound(uint64_t bound_seconds) {
  const auto grace = std::chrono::seconds(std::clamp<uint64_t>(bound_seconds, 5, 60));
  return std::chrono::duration_cast<std::chrono::milliseconds>(grace + std::chrono::seconds(bound_seconds));
}
constexpr int kUnpackerLastWordsMs = 2000;
constexpr int kWriteProgressMs = 500;

std::string Plural(size_t n, const std::string& what) { return std::to_string(n) + " " + what + "(s)"; }

// Once no helper can write it: the image on the disk, and the page cache over it dropped.
// File data goes past the page cache (the unpacker's direct writes, or the broker's from
// the unpacked cache) and metadata through it; where a large folio spans a block written
// directly and a block written through the cache, the kernel cannot always invalidate
// it, and it would serve zeros for the direct block until evicted. A reader after this
// reads the disk.
Result<void> DropCachedImage(int rootfs) {
  if (::fdatasync(rootfs) != 0) return Error::FromErrno("flushing rootfs.ext4 (fdatasync)");
  if (int rc = ::posix_fadvise(rootfs, 0, 0, POSIX_FADV_DONTNEED); rc != 0) {
    return Error{ErrorCode::kIo, std::string("dropping rootfs.ext4's page cache (posix_fadvise): ") + std::strerror(rc)};
  }
  return {};
}

// A descriptor a helper writes file data through: write-only and O_DIRECT, so the data
// goes to the disk without filling the page cache (the unpacker's, for the image's data
// region); write-only through the page cache where the file system has no direct I/O.
// Always an open file description of its own: flags the helper sets on it (O_APPEND)
// must not reach the broker's or another helper's.
Result<UniqueFd> DirectWritesOf(int rootfs) {
  BANGER_ASSIGN_OR_RETURN(std::optional<UniqueFd> direct, ReopenForDirectWrites(rootfs));
  if (direct) return std::move(*direct);
  return ReopenWriteOnly(rootfs);
}

}  // namespace

Result<std::unique_ptr<ScratchDir>> ScratchDir::Create(const std::string& root) {
  std::string pattern = (root.empty() || root[0] != '/' ? std::string("/tmp") : root) + "/banger-pull-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) return Error::FromErrno("creating a scratch directory (mkdtemp " + pattern + ")");
  return std::unique_ptr<ScratchDir>(new ScratchDir(pattern));
}

ScratchDir::~ScratchDir() { RemoveTree(path_); }

OciPull::OciPull(const PullOptions& options, Reference ref, PullTarget target)
    : options_(options),
      ref_(std::move(ref)),
      target_(std::move(target)),
      launcher_(options.helpers),
      unpacked_cache_(target_.cache.layout()) {
  unpack_request_.limits = options.unpack_limits;
  unpack_request_.inject_guest_assets = options.guest_assets;
}

// The unpacker writes two files: the layers' file data into rootfs.ext4, the tree
// stream beside the cache (or in scratch); a full disk names the one it filled.
Error OciPull::UnpackFailed(Error error) const {
  if (error.message.find("writing the tree stream") != std::string::npos) {
    return WhereFull(std::move(error), tree_dir_, "the unpacked layers' tree");
  }
  return WhereFull(std::move(error), target_.store.images_dir(), "rootfs.ext4 (the unpacked layers' file data)");
}

Error OciPull::ImageFailed(Error error) const {
  return WhereFull(std::move(error), target_.store.images_dir(), "rootfs.ext4");
}

Result<PullResult> OciPull::Run() {
  ReportPhase(options_, "resolving", "resolving " + ref_.String(), {{"ref", ref_.String()}});
  BANGER_TRY(PrepareOutputs());
  StartHelpers();
  BANGER_TRY(Fetch());
  BANGER_TRY(WaitForHelpers());
  BANGER_TRY(cached_ ? UseUnpackedCache() : Unpack());
  BANGER_TRY(Image());
  BANGER_TRY(Shutdown());
  return Publish();
}

// The tree stream goes into an unnamed file in the cache, which becomes part of the
// image's entry in the unpacked cache once the pull succeeds (scratch if that fails);
// rootfs.ext4 into a fresh staging directory, where the unpacker writes the file data
// (docs/architecture.md, "How a content byte travels").
Result<void> OciPull::PrepareOutputs() {
  BANGER_ASSIGN_OR_RETURN(scratch_, ScratchDir::Create(options_.scratch_root));
  if (auto file = unpacked_cache_.CreateFile()) {
    tree_ = std::move(*file);
    cacheable_ = true;
    tree_dir_ = unpacked_cache_.dir();
  } else {
    tree_.reset(::open(scratch_->path().c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
    if (!tree_) return Error::FromErrno("creating a scratch file in " + scratch_->path());
    tree_dir_ = scratch_->path();
  }
  auto staging = target_.store.BeginStaging();
  if (!staging) return WhereFull(staging.error(), target_.store.images_dir(), "a staging directory");
  staging_.emplace(std::move(*staging));
  auto rootfs = staging_->CreateRootfs();
  if (!rootfs) return ImageFailed(rootfs.error());
  rootfs_ = std::move(*rootfs);
  return {};
}

// Both helpers' sandboxes are set up while the fetcher resolves the reference; the
// unpacker gets each layer as soon as it can be read (layer_feed.h).
void OciPull::StartHelpers() {
  unpacker_start_ = std::make_unique<HelperStart>(launcher_, security::ProcessKind::kUnpacker);
  imager_start_ = std::make_unique<HelperStart>(launcher_, security::ProcessKind::kImager);
}

Result<void> OciPull::Fetch() {
  // The unpacker writes file data into the image's data region itself.
  BANGER_ASSIGN_OR_RETURN(UniqueFd spool_for_unpacker, DirectWritesOf(rootfs_.get()));
  BANGER_ASSIGN_OR_RETURN(UniqueFd tree_for_unpacker, DupCloexec(tree_.get()));
  feed_ = std::make_unique<LayerFeed>(
      target_.cache, [this] { return unpacker_start_->Get(); }, unpack_request_, std::move(spool_for_unpacker),
      std::move(tree_for_unpacker));
  // The unpacked cache is looked up as soon as the plan is known: a hit feeds nothing.
  auto look_up = [this](const FetchedImage& planned) {
    if (!cache_key_.empty()) return;
    std::vector<std::string> layers;
    for (const auto& l : planned.layers) layers.push_back(l.digest);
    cache_key_ = UnpackedKey{BANGER_VERSION, launcher_.Identity(security::ProcessKind::kUnpacker),
                             planned.config.digest, layers, unpack_request_}
                     .Hash();
    cached_ = unpacked_cache_.Find(cache_key_);
  };
  FetchOptions fetch;
  fetch.reference = options_.reference;
  fetch.platform = options_.platform;
  fetch.insecure_registries = options_.insecure_registries;
  fetch.egress_allow = options_.egress_allow;
  fetch.tenant = options_.tenant;
  if (auto it = options_.mirrors.find(ref_.registry); it != options_.mirrors.end()) fetch.mirrors = it->second;
  fetch.parallel_downloads = options_.parallel_downloads;
  fetch.min_download_rate = options_.min_download_rate;
  fetch.download_grace_seconds = options_.download_grace_seconds;
  fetch.credentials = options_.credentials;
  fetch.certs_dirs = options_.certs_dirs;
  fetch.helpers = options_.helpers;
  fetch.trust = options_.trust;
  fetch.on_event = [&](const FetchEvent& e) {
    if (options_.observer != nullptr) options_.observer->Fetch(e);
    if (!cached_) feed_->OnEvent(e);
  };
  fetch.on_plan = [&](const FetchedImage& planned) {
    look_up(planned);
    if (!cached_) feed_->OnPlan(planned);
  };
  fetch.on_download_started = [&](const std::string& digest, int fd) {
    if (!cached_) feed_->OnDownloadStarted(digest, fd);
  };
  // Before a layer downloads: banger's agent must be able to run in the image (the
  // unpacker checks the agent's ELF header against the config again).
  fetch.on_platform = [&](const Platform& platform) -> Result<void> {
    if (!options_.guest_assets || PlatformMatches(platform, GuestAgentPlatform())) return {};
    return Error{ErrorCode::kInvalidArgument, ref_.String() + " is " + platform.String() +
                                                  ": banger's guest agent is built for " +
                                                  GuestAgentPlatform().String() + " only; use --no-guest-assets"};
  };
  auto fetched = FetchImage(target_.cache, fetch);
  if (!fetched) return WhereFull(fetched.error(), target_.cache.layout().oci_dir() + "/blobs", "the image's blobs");
  image_ = std::move(*fetched);
  uint64_t compressed = 0;
  for (const auto& l : image_.layers) compressed += l.size;
  ReportPhase(options_, "fetched",
              "fetched " + Plural(image_.layers.size(), "layer") + ", " + HumanBytes(compressed) + " (" +
                  HumanBytes(image_.downloaded_bytes) + " downloaded" +
                  (image_.mirror.empty() ? "" : " from mirror " + image_.mirror) + ")",
              {{"layers", image_.layers.size()}, {"bytes", compressed}, {"downloaded_bytes", image_.downloaded_bytes}});
  look_up(image_);  // when the fetch made no plan of its own (offline)
  return {};
}

Result<void> OciPull::WaitForHelpers() {
  BANGER_ASSIGN_OR_RETURN(unpacker_, unpacker_start_->Get());
  BANGER_ASSIGN_OR_RETURN(imager_, imager_start_->Get());
  return StallForTests();
}

Result<void> OciPull::UseUnpackedCache() {
  unpacked_ = cached_->summary;
  tree_for_imager_ = std::move(cached_->tree);
  ReportPhase(options_, "unpacked", "unpacked " + std::to_string(unpacked_.entries) + " entries (from the unpacked cache)",
              {{"entries", unpacked_.entries}, {"cached", true}});
  return {};
}

Result<void> OciPull::Unpack() {
  if (auto fed = feed_->Finish(image_); !fed) {
    // A send fails when the unpacker already quit over a layer: its reason is the one to
    // report. Progress it sends meanwhile is skipped, for a bounded time only.
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(kUnpackerLastWordsMs);
    while (std::chrono::steady_clock::now() < until) {
      auto cause = unpacker_->ReceiveExpecting({ipc::MessageType::kUnpackProgress}, kUnpackerLastWordsMs);
      if (!cause) return UnpackFailed(cause.error().code == ErrorCode::kTimeout ? fed.error() : cause.error());
    }
    return UnpackFailed(fed.error());
  }
  ReportPhase(options_, "unpacking", "unpacking " + Plural(image_.layers.size(), "layer") + " in the sandbox");
  BANGER_ASSIGN_OR_RETURN(unpacked_, AwaitUnpackDone());
  ReportPhase(options_, "unpacked", "unpacked " + std::to_string(unpacked_.entries) + " entries",
              {{"entries", unpacked_.entries}});
  // Until the unpacker has exited it could write anywhere in the image: the imager
  // starts on the file only after.
  if (auto status = security::ReadProcStatus(unpacker_->pid())) peak_rss_[unpacker_->name()] = status->peak_rss_kib;
  if (auto ended = unpacker_->Shutdown(kHelperShutdownTimeoutMs); !ended) return UnpackFailed(ended.error());
  // The imager may only read the tree the unpacker wrote (invariant I8).
  BANGER_ASSIGN_OR_RETURN(tree_for_imager_, ReopenReadOnly(tree_.get()));
  return {};
}

// Progress until unpack-done, each message decoded strictly: a malformed one is the
// unpacker's failure (invariant I9).
Result<ipc::UnpackSummary> OciPull::AwaitUnpackDone() {
  const uint64_t bound = options_.unpack_limits.max_unpack_seconds.value_or(kDefaultUnpackSeconds);
  const auto deadline = std::chrono::steady_clock::now() + BrokerTimeBound(bound);
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    auto reply = unpacker_->ReceiveExpecting({ipc::MessageType::kUnpackProgress, ipc::MessageType::kUnpackDone},
                                             static_cast<int>(std::clamp<int64_t>(left.count(), 1, INT32_MAX)));
    if (!reply && reply.error().code == ErrorCode::kTimeout) {
      if (std::chrono::steady_clock::now() < deadline) continue;  // woke a moment before it
      unpacker_->Kill();
      return Error{ErrorCode::kTimeout, "banger-unpacker went past its time bound (max_unpack_seconds) and was stopped"};
    }
    if (!reply) return UnpackFailed(reply.error());
    if (reply->type == ipc::MessageType::kUnpackDone) {
      auto done = ipc::Decode<ipc::UnpackSummary>(reply->body);
      if (!done) return unpacker_->BrokeProtocol(done.error().message);
      return std::move(*done);
    }
    auto progress = ipc::Decode<ipc::UnpackProgress>(reply->body);
    if (!progress) return unpacker_->BrokeProtocol(progress.error().message);
    // A layer the image does not have is no report of progress.
    if (progress->layer >= image_.layers.size()) {
      return unpacker_->BrokeProtocol("unpack-progress names layer " + std::to_string(progress->layer) + " of " +
                                      std::to_string(image_.layers.size()));
    }
    if (options_.observer != nullptr) options_.observer->Unpack(progress->layer, progress->bytes, progress->entries);
  }
}

// The imager may write no byte past the filesystem it is asked for: the broker plans it
// from the same tree summary, with the same code, and lowers the imager's RLIMIT_FSIZE.
Result<void> OciPull::BoundTheImagersFile() {
  BANGER_ASSIGN_OR_RETURN(UniqueFd tree, ReopenReadOnly(tree_for_imager_.get()));
  auto summary = ipc::TreeStreamReader(tree.get()).ReadSummary();
  if (!summary && cached_) return summary.error().Wrap("the unpacked cache's tree stream");
  if (!summary) return unpacker_->BrokeProtocol("the tree stream it wrote: " + summary.error().message);
  auto plan = ipc::PlanFilesystem(*summary, options_.size_bytes, unpacked_.spool_bytes);
  if (!plan) return ImageFailed(plan.error());
  return imager_->LimitFileSize(plan->filesystem_bytes);
}

// The imager's image-done, within `bound`; every half second without it, what rootfs.ext4
// holds so far goes to the display.
Result<ipc::Message> OciPull::AwaitImageDone(std::chrono::milliseconds bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  for (;;) {
    auto imaged = imager_->ReceiveExpecting({ipc::MessageType::kImageDone}, kWriteProgressMs);
    if (imaged) return imaged;
    if (imaged.error().code != ErrorCode::kTimeout) return ImageFailed(imaged.error());
    if (std::chrono::steady_clock::now() >= deadline) {
      imager_->Kill();
      return Error{ErrorCode::kTimeout, "banger-imager went past its time bound (max_unpack_seconds) and was stopped"};
    }
    struct stat st {};
    if (options_.observer != nullptr && ::fstat(rootfs_.get(), &st) == 0) {
      options_.observer->Write(static_cast<uint64_t>(st.st_blocks) * 512);
    }
  }
}

// The cached image's data region is copied into the new image by the broker, while the
// imager writes the metadata around it (their blocks never meet: the imager writes none
// in the region, and the copy skips the holes where no file's data is): the imager never
// holds another pull's image. Had anyone written to that image meanwhile, the copy could
// hold a mix, so its identity is checked again after.
Result<void> OciPull::CopyFromCache() {
  BANGER_ASSIGN_OR_RETURN(std::optional<UniqueFd> direct, ReopenForDirectWrites(rootfs_.get()));
  BANGER_ASSIGN_OR_RETURN(std::optional<UniqueFd> direct_from, ReopenForDirectReads(cached_->image.get()));
  if (auto copied = CopyDataRegion(cached_->image.get(), direct_from ? direct_from->get() : -1, rootfs_.get(),
                                   direct ? direct->get() : -1, ipc::kDataRegionStart, unpacked_.spool_bytes);
      !copied) {
    return ImageFailed(copied.error());
  }
  auto now = FileIdentity::Of(cached_->image.get());
  if (!now || !(*now == cached_->identity)) {
    return Error{ErrorCode::kIo, "the unpacked cache's image of " + ref_.String() + " changed while it was copied; pull again"};
  }
  return {};
}

// The imager gets the image file (its data region filled by the unpacker, or being filled
// from the cache) and the tree stream read-only.
Result<void> OciPull::Image() {
  BANGER_TRY(BoundTheImagersFile());
  const FsIdentity id = DeriveFsIdentity(image_.manifest_digest);
  ipc::ImageRequest request{options_.size_bytes, id.uuid, id.hash_seed, id.timestamp, {}};
  for (const auto& layer : image_.layers) request.layer_digests.push_back(layer.digest);
  request.region_bytes = unpacked_.spool_bytes;
  ipc::Message message = ipc::Message::Make(ipc::MessageType::kImageBegin, ipc::Encode(request));
  auto rootfs = DupCloexec(rootfs_.get());
  if (!rootfs) return rootfs.error();
  message.fds.push_back(std::move(*rootfs));
  message.fds.push_back(std::move(tree_for_imager_));
  BANGER_TRY(imager_->Send(message));
  if (cached_) BANGER_TRY(CopyFromCache());
  // The imager's work is bounded like the unpacker's: the same time, and then it is stopped.
  const uint64_t bound = options_.unpack_limits.max_unpack_seconds.value_or(kDefaultUnpackSeconds);
  auto imaged = AwaitImageDone(BrokerTimeBound(bound));
  if (!imaged) return imaged.error();
  auto written = ipc::Decode<ipc::ImageSummary>(imaged->body);
  if (!written) return imager_->BrokeProtocol(written.error().message);
  written_ = *written;
  return {};
}

Result<void> OciPull::Shutdown() {
  if (image_.fetcher_peak_rss_kib != 0) peak_rss_["banger-fetcher"] = image_.fetcher_peak_rss_kib;
  for (security::SandboxedChild* child : {unpacker_, imager_}) {
    if (!peak_rss_.count(child->name())) {
      if (auto status = security::ReadProcStatus(child->pid())) peak_rss_[child->name()] = status->peak_rss_kib;
    }
    BANGER_TRY(child->Shutdown(kHelperShutdownTimeoutMs));  // again for the unpacker: its exit as it was
  }
  BANGER_TRY(DropCachedImage(rootfs_.get()));
  // What the unpacked cache will record of the image, now that nothing writes it any
  // more and before anyone else can see it (Publish).
  if (auto identity = FileIdentity::Of(rootfs_.get())) image_identity_ = *identity;
  ReportPhase(options_, "written", "wrote rootfs.ext4 (" + HumanBytes(written_.filesystem_bytes) + ")",
              {{"filesystem_bytes", written_.filesystem_bytes}});
  return {};
}

Result<PullResult> OciPull::Publish() {
  PullResult result;
  result.peak_rss_kib = peak_rss_;
  result.warnings = unpacked_.warnings;
  result.filesystem_bytes = written_.filesystem_bytes;
  result.content_bytes = written_.content_bytes;
  json record = {{"name", target_.name},
                 {"ref", ref_.String()},
                 {"source", "oci"},
                 {"manifest_digest", image_.manifest_digest},
                 {"config_digest", image_.config.digest},
                 {"platform", image_.platform},
                 {"kernel_ref", options_.kernel_ref},
                 {"filesystem_bytes", result.filesystem_bytes},
                 {"content_bytes", result.content_bytes},
                 {"filesystem_uuid", FormatUuid(DeriveFsIdentity(image_.manifest_digest).uuid)},
                 {"created", UtcNow()},
                 {"banger_version", BANGER_VERSION},
                 {"warnings", result.warnings}};
  if (const auto& guest = unpacked_.guest) {
    result.guest_init = guest->init;
    record["guest"] = {{"init", guest->init}, {"injected", guest->injected}, {"replaced", guest->replaced}};
  }
  if (!image_.mirror.empty()) record["mirror"] = image_.mirror;
  if (image_.trust) record["signature"] = image_.trust->ToJson();
  auto published = target_.store.Publish(std::move(*staging_), record, options_.force);
  staging_.reset();
  if (!published) return WhereFull(published.error(), target_.store.images_dir(), "image.json");
  result.image = published->image;
  if (published->warning) result.warnings.push_back(*published->warning);
  // Best effort: without the entry, the next pull of this image only unpacks again.
  if (!cached_ && cacheable_ && image_identity_) {
    (void)unpacked_cache_.Store(cache_key_, rootfs_.get(), tree_.get(), unpacked_, *image_identity_);
  }
  return result;
}

#ifdef BANGER_TEST_HOOKS
// Writes "name pid" lines for the running helpers into options.test_stall_file and waits
// (at most two minutes, or until stopped) for the file to go, so a test can read their
// /proc status or kill one at a known point.
Result<void> OciPull::StallForTests() {
  const std::string& file = options_.test_stall_file;
  if (file.empty() || file[0] != '/') return {};
  std::string lines;
  for (const auto* child : {unpacker_, imager_}) lines += child->name() + " " + std::to_string(child->pid()) + "\n";
  BANGER_TRY(ReplaceFileAtomically(file, {.mode = 0644}, [&](int fd) { return WriteAll(fd, lines, "writing " + file); }));
  for (int waited = 0; waited < 120000 && ::access(file.c_str(), F_OK) == 0; waited += 50) {
    pollfd stop{options_.helpers.stop_fd, POLLIN, 0};
    if (::poll(&stop, 1, 50) > 0) return Error{ErrorCode::kStopped, "stopped"};
  }
  return {};
}
#else
Result<void> OciPull::StallForTests() { return {}; }
#endif

}  // namespace banger::broker
