#include "broker/pull.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>

#include "banger_version.h"
#include "broker/catalog_pull.h"
#include "broker/cli_output.h"
#include "broker/fs_identity.h"
#include "broker/helper_paths.h"
#include "broker/layer_feed.h"
#include "broker/unpacked_cache.h"
#include "security/spawn.h"
#include "security/stop_signal.h"

namespace banger::broker {
namespace {

using nlohmann::json;

// $TMPDIR/banger-pull-XXXXXX, removed on every way out.
class ScratchDir {
 public:
  static Result<ScratchDir> Create() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr && *tmp == '/' ? tmp : "/tmp") + "/banger-pull-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) return Error::FromErrno("creating a scratch directory");
    ScratchDir dir;
    dir.path_ = pattern;
    return dir;
  }
  ScratchDir() = default;
  ScratchDir(ScratchDir&& o) noexcept : path_(std::exchange(o.path_, "")) {}
  ~ScratchDir() {
    if (!path_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
    }
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};



UniqueFd Dup(int fd) { return UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 0)); }

// Starts a helper on a thread of its own, so that its sandbox set-up (namespaces, the
// readiness handshake) overlaps whatever the pull does meanwhile. The thread lives as long
// as the helper is needed: a helper's parent-death signal fires when the thread that
// forked it ends.
class HelperStart {
 public:
  explicit HelperStart(security::ProcessKind kind) {
    try {
      thread_ = std::thread([this, kind] {
        auto started = StartHelper(kind);
        std::unique_lock lock(mutex_);
        started_.emplace(std::move(started));
        changed_.notify_all();
        changed_.wait(lock, [this] { return released_; });
      });
    } catch (const std::system_error&) {
      started_.emplace(StartHelper(kind));
    }
  }
  ~HelperStart() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard lock(mutex_);
      released_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }
  Result<security::SandboxedChild*> Get() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return started_.has_value(); });
    if (!*started_) return started_->error();
    return &**started_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<Result<security::SandboxedChild>> started_;
  bool released_ = false;
  std::thread thread_;
};

// A test hook: with BANGER_TEST_STALL=FILE a pull writes "name pid" lines for its running
// helpers into FILE and waits (at most two minutes, or until stopped) for FILE to go,
// so a test can read their /proc status or kill one at a known point.
Result<void> StallForTests(std::initializer_list<const security::SandboxedChild*> children) {
  const char* file = std::getenv("BANGER_TEST_STALL");
  if (file == nullptr || *file != '/') return {};
  std::string lines;
  for (const auto* child : children) lines += child->name() + " " + std::to_string(child->pid()) + "\n";
  const std::string temp = std::string(file) + ".tmp";
  {
    UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd || ::write(fd.get(), lines.data(), lines.size()) != static_cast<ssize_t>(lines.size())) {
      return Error::FromErrno("writing " + temp);
    }
  }
  if (::rename(temp.c_str(), file) != 0) return Error::FromErrno("renaming " + temp);
  for (int waited = 0; waited < 120000 && ::access(file, F_OK) == 0; waited += 50) {
    pollfd stop{security::StopFd(), POLLIN, 0};
    if (::poll(&stop, 1, 50) > 0) return Error{ErrorCode::kStopped, security::StopReason()};
  }
  return {};
}


}  // namespace

Error WhereFull(Error error, const std::string& dir, const std::string& what) {
  if (error.code != ErrorCode::kNoSpace) return error;
  return Error{ErrorCode::kNoSpace, "no space left in " + dir + " while writing " + what + " (" + error.message + ")"};
}

std::string UtcNow() {
  char text[32];
  std::time_t t = std::time(nullptr);
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return text;
}

void ReportPhase(const PullOptions& options, const std::string& phase, const std::string& text, const json& detail) {
  if (options.progress != nullptr) options.progress->Phase(phase, text, detail);
}

Result<PullTarget> OpenPullTarget(const std::string& name, const PullOptions& options) {
  if (!IsValidImageName(name)) {
    return Error{ErrorCode::kInvalidArgument, "invalid image name '" + name + "': letters, digits, '.', '_' and '-'"};
  }
  BANGER_ASSIGN_OR_RETURN(ImageStore store,
                          ImageStore::Open(options.state_root.empty() ? DefaultStateRoot() : options.state_root));
  store.RemoveStaleStaging();
  // Checked again when the image is published, under the store's lock.
  if (!options.force && store.FindByName(name)) {
    return Error{ErrorCode::kInvalidArgument, "an image named '" + name + "' exists (--force replaces it)"};
  }
  BANGER_ASSIGN_OR_RETURN(BlobCache cache,
                          BlobCache::Open(options.cache_root.empty() ? DefaultCacheRoot() : options.cache_root));
  return PullTarget{name, std::move(store), std::move(cache)};
}

const std::vector<std::string>& UnpackLimitNames() {
  static const std::vector<std::string> kNames = {
      "max_layer_bytes", "max_total_bytes",     "max_spool_bytes",  "max_unpack_seconds", "max_entries",
      "max_depth",       "max_path_bytes",      "zstd_window_log_max", "max_header_bytes"};
  return kNames;
}

Result<PullResult> PullImage(const PullOptions& options) {
  // A catalog name takes the bundle fast path, and never falls through to a registry.
  auto catalog = LoadCatalog(options.catalog_source);
  if (!catalog && LooksLikeCatalogName(options.reference)) {
    return Error{catalog.error().code, catalog.error().message + "; '" + options.reference +
                                           "' may be a catalog image, so it is not looked up in a registry (a full "
                                           "reference such as docker.io/library/" + options.reference + " would be)"};
  }
  if (catalog) {
    if (const CatalogEntry* entry = catalog->Find(options.reference)) return PullFromCatalog(*entry, *catalog, options);
  }
  BANGER_ASSIGN_OR_RETURN(Reference ref, ParseReference(options.reference));
  BANGER_ASSIGN_OR_RETURN(PullTarget target,
                          OpenPullTarget(options.name.empty() ? ref.DefaultImageName() : options.name, options));
  const std::string& name = target.name;
  const ImageStore& store = target.store;
  const BlobCache& cache = target.cache;

  ReportPhase(options, "resolving", "resolving " + ref.String(), {{"ref", ref.String()}});

  // The spool and the tree stream go into unnamed files in the cache, which become the
  // image's entry in the unpacked cache once the pull succeeds (scratch if that fails).
  const UnpackedCache unpacked_cache(cache.oci_dir());
  BANGER_ASSIGN_OR_RETURN(ScratchDir scratch, ScratchDir::Create());
  auto unnamed_file = [&]() -> Result<std::pair<UniqueFd, bool>> {
    if (auto in_cache = unpacked_cache.CreateFile()) return std::make_pair(std::move(*in_cache), true);
    UniqueFd fd(::open(scratch.path().c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
    if (!fd) return Error::FromErrno("creating a scratch file in " + scratch.path());
    return std::make_pair(std::move(fd), false);
  };
  BANGER_ASSIGN_OR_RETURN(auto spool_file, unnamed_file());
  BANGER_ASSIGN_OR_RETURN(auto tree_file, unnamed_file());
  const bool cacheable = spool_file.second && tree_file.second;
  UniqueFd spool = std::move(spool_file.first), tree = std::move(tree_file.first);
  const std::string spool_dir = spool_file.second ? unpacked_cache.dir() : scratch.path();
  const std::string& images_dir = store.images_dir();
  auto unpack_failed = [&](Error error) { return WhereFull(std::move(error), spool_dir, "the unpacked layers (the spool)"); };
  auto image_failed = [&](Error error) { return WhereFull(std::move(error), images_dir, "rootfs.ext4"); };

  auto begun = store.BeginStaging();
  if (!begun) return WhereFull(begun.error(), images_dir, "a staging directory");
  ImageStore::Staging staging = std::move(*begun);
  auto abandon = [&](Error error) {
    store.Abandon(staging);
    return error;
  };
  UniqueFd rootfs(::open((staging.dir + "/rootfs.ext4").c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!rootfs) return abandon(image_failed(Error::FromErrno("creating rootfs.ext4 in " + staging.dir)));

  // Both helpers' sandboxes are set up while the fetcher resolves the reference; the
  // unpacker gets each layer as soon as it can be read, unless the unpacked cache has
  // the image already.
  HelperStart unpacker_start(security::ProcessKind::kUnpacker);
  HelperStart imager_start(security::ProcessKind::kImager);
  json begin = {{"limits", json::object()}, {"inject_guest_assets", options.guest_assets}};
  for (const auto& [limit, value] : options.unpack_limits) begin["limits"][limit] = value;
  LayerFeed feed(cache, [&unpacker_start] { return unpacker_start.Get(); }, begin, Dup(spool.get()), Dup(tree.get()));
  std::string cache_key;
  std::optional<UnpackedEntry> cached;
  auto look_up = [&](const FetchedImage& planned) {
    if (!cache_key.empty()) return;
    cache_key = UnpackedCache::Key(planned, begin);
    cached = unpacked_cache.Find(cache_key);
  };

  FetchOptions fetch;
  fetch.reference = options.reference;
  fetch.platform = options.platform;
  fetch.insecure_registries = options.insecure_registries;
  if (auto it = options.mirrors.find(ref.registry); it != options.mirrors.end()) fetch.mirrors = it->second;
  fetch.parallel_downloads = options.parallel_downloads;
  fetch.credentials = options.credentials;
  fetch.on_event = [&](const FetchEvent& e) {
    if (options.progress != nullptr) options.progress->Fetch(e);
    if (!cached) feed.OnEvent(e);
  };
  fetch.on_plan = [&](const FetchedImage& planned) {
    look_up(planned);
    if (!cached) feed.OnPlan(planned);
  };
  fetch.on_download_started = [&](const std::string& digest, int fd) {
    if (!cached) feed.OnDownloadStarted(digest, fd);
  };
  // Before a layer downloads: banger's agent must be able to run in the image (the
  // unpacker checks the agent's ELF header against the config again).
  fetch.on_platform = [&](const Platform& platform) -> Result<void> {
    if (!options.guest_assets || PlatformMatches(platform, GuestAgentPlatform())) return {};
    return Error{ErrorCode::kInvalidArgument, ref.String() + " is " + platform.String() +
                                                  ": banger's guest agent is built for " +
                                                  GuestAgentPlatform().String() + " only; use --no-guest-assets"};
  };
  auto fetched = FetchImage(cache, fetch);
  if (!fetched) return abandon(WhereFull(fetched.error(), cache.oci_dir() + "/blobs", "the image's blobs"));
  FetchedImage& image = *fetched;
  uint64_t compressed = 0;
  for (const auto& l : image.layers) compressed += l.size;
  ReportPhase(options, "fetched",
      "fetched " + std::to_string(image.layers.size()) + " layer(s), " + HumanBytes(compressed) + " (" +
          HumanBytes(image.downloaded_bytes) + " downloaded" + (image.mirror.empty() ? "" : " from mirror " + image.mirror) +
          ")",
      {{"layers", image.layers.size()}, {"bytes", compressed}, {"downloaded_bytes", image.downloaded_bytes}});
  look_up(image);  // when the fetch made no plan of its own (offline)
  auto unpacker_started = unpacker_start.Get();
  if (!unpacker_started) return abandon(unpacker_started.error());
  security::SandboxedChild* unpacker = *unpacker_started;
  auto imager_started = imager_start.Get();
  if (!imager_started) return abandon(imager_started.error());
  security::SandboxedChild* imager = *imager_started;

  if (auto stalled = StallForTests({unpacker, imager}); !stalled) return abandon(stalled.error());

  std::optional<json> unpacked;
  UniqueFd spool_for_imager, tree_for_imager;
  auto reopen_read_only = [](int fd) {
    return UniqueFd(::open(("/proc/self/fd/" + std::to_string(fd)).c_str(), O_RDONLY | O_CLOEXEC));
  };
  if (cached) {
    unpacked = cached->done;
    spool_for_imager = std::move(cached->spool);
    tree_for_imager = std::move(cached->tree);
    ReportPhase(options, "unpacked",
        "unpacked " + std::to_string(unpacked->value("entries", 0)) + " entries (from the unpacked cache)",
        {{"entries", unpacked->value("entries", 0)}, {"cached", true}});
  } else {
    if (auto fed = feed.Finish(image); !fed) {
      // A send fails when the unpacker already quit over a layer: its reason is the one to report.
      for (;;) {
        auto cause = unpacker->ReceiveExpecting({ipc::MessageType::kUnpackProgress}, 2000);
        if (!cause) return abandon(unpack_failed(cause.error().code == ErrorCode::kTimeout ? fed.error() : cause.error()));
      }
    }
    ReportPhase(options, "unpacking", "unpacking " + std::to_string(image.layers.size()) + " layer(s) in the sandbox");
    // The unpacker keeps its own time bound; this one holds if it does not.
    const auto bound = options.unpack_limits.find("max_unpack_seconds");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60) +
                          std::chrono::seconds(bound != options.unpack_limits.end() ? bound->second : 3600);
    while (!unpacked) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      auto reply = unpacker->ReceiveExpecting({ipc::MessageType::kUnpackProgress, ipc::MessageType::kUnpackDone},
                                              static_cast<int>(std::clamp<int64_t>(left.count(), 1, INT32_MAX)));
      if (!reply && reply.error().code == ErrorCode::kTimeout && std::chrono::steady_clock::now() >= deadline) {
        unpacker->Kill();
        return abandon(Error{ErrorCode::kTimeout, "banger-unpacker went past its time bound (max_unpack_seconds) and was stopped"});
      }
      if (!reply) return abandon(unpack_failed(reply.error()));
      auto body = reply->Json();
      if (!body) return abandon(body.error());
      if (reply->type == ipc::MessageType::kUnpackProgress) {
        if (options.progress != nullptr && body->is_object()) {
          options.progress->Unpack(body->value("layer", size_t{0}), body->value("bytes", uint64_t{0}));
        }
        continue;
      }
      unpacked = *body;
      ReportPhase(options, "unpacked", "unpacked " + std::to_string(unpacked->value("entries", 0)) + " entries",
          {{"entries", unpacked->value("entries", 0)}});
    }
    spool_for_imager = reopen_read_only(spool.get());
    tree_for_imager = reopen_read_only(tree.get());
    if (!spool_for_imager || !tree_for_imager) return abandon(Error::FromErrno("reopening the spool or tree read-only"));
  }

  // Imager: the image file, the spool and the tree stream, both read-only.
  const FsIdentity id = DeriveFsIdentity(image.manifest_digest);
  {
    json layer_digests = json::array();
    for (const auto& layer : image.layers) layer_digests.push_back(layer.digest);
    ipc::Message message = ipc::Message::WithJson(
        ipc::MessageType::kImageBegin, {{"size_bytes", options.size_bytes}, {"uuid", id.uuid_hex},
                                        {"hash_seed", id.hash_seed_hex}, {"timestamp", id.timestamp},
                                        {"layers", layer_digests}});
    message.fds.push_back(Dup(rootfs.get()));
    message.fds.push_back(std::move(spool_for_imager));
    message.fds.push_back(std::move(tree_for_imager));
    if (auto sent = imager->Send(message); !sent) return abandon(sent.error());
  }
  auto imaged = imager->ReceiveExpecting({ipc::MessageType::kImageDone}, -1);
  if (!imaged) return abandon(image_failed(imaged.error()));
  auto written_body = imaged->Json();
  if (!written_body) return abandon(written_body.error());
  std::optional<json> written = *written_body;
  std::map<std::string, uint64_t> peak_rss;
  if (image.fetcher_peak_rss_kib != 0) peak_rss["banger-fetcher"] = image.fetcher_peak_rss_kib;
  for (security::SandboxedChild* child : {unpacker, imager}) {
    if (auto status = security::ReadProcStatus(child->pid())) peak_rss[child->name()] = status->peak_rss_kib;
    (void)child->Send(ipc::Message::Make(ipc::MessageType::kShutdown));
    security::ChildExit end = child->Wait(10000);
    if (end.signaled || end.code != 0) {
      return abandon(Error{ErrorCode::kChildFailed, child->name() + " " + end.Describe() + " at shutdown"});
    }
  }
  ReportPhase(options, "written", "wrote rootfs.ext4 (" + HumanBytes(written->value("filesystem_bytes", uint64_t{0})) + ")",
      {{"filesystem_bytes", written->value("filesystem_bytes", uint64_t{0})}});

  PullResult result;
  result.peak_rss_kib = peak_rss;
  for (const auto& w : unpacked->value("warnings", json::array())) result.warnings.push_back(w.get<std::string>());
  result.filesystem_bytes = written->value("filesystem_bytes", uint64_t{0});
  result.content_bytes = written->value("content_bytes", uint64_t{0});
  const json guest = unpacked->value("guest", json());
  if (guest.is_object()) result.guest_init = guest.value("init", "none");
  json record = {{"name", name},
                 {"ref", ref.String()},
                 {"source", "oci"},
                 {"manifest_digest", image.manifest_digest},
                 {"config_digest", image.config.digest},
                 {"platform", image.platform},
                 {"kernel_ref", options.kernel_ref},
                 {"filesystem_bytes", result.filesystem_bytes},
                 {"content_bytes", result.content_bytes},
                 {"filesystem_uuid", FormatUuid(id.uuid_hex)},
                 {"created", UtcNow()},
                 {"banger_version", BANGER_VERSION},
                 {"warnings", result.warnings}};
  if (guest.is_object()) record["guest"] = guest;
  if (!image.mirror.empty()) record["mirror"] = image.mirror;
  auto published = store.Publish(staging, record, options.force);
  if (!published) return abandon(WhereFull(published.error(), images_dir, "image.json"));
  result.image = *published;
  // Best effort: without the entry, the next pull of this image only unpacks again.
  if (!cached && cacheable) (void)unpacked_cache.Store(cache_key, spool.get(), tree.get(), *unpacked);
  return result;
}

}  // namespace banger::broker
