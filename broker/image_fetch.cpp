#include "broker/image_fetch.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <set>
#include <map>
#include <nlohmann/json.hpp>

#include "base/digest.h"
#include "base/json.h"
#include "base/sha256.h"
#include "broker/credentials.h"
#include "broker/helper_paths.h"
#include "ipc/fetch_protocol.h"
#include "security/spawn.h"
#include "security/stop_signal.h"

namespace banger::broker {
namespace {

using nlohmann::json;

constexpr int kResolveTimeoutMs = 15 * 60 * 1000;
constexpr int kBlobSilenceTimeoutMs = 15 * 60 * 1000;

constexpr const char* kIndexDefaultPlatform = "linux/amd64";

// Where a digest reference's resolution is remembered, so it can be pulled again offline.
std::string PlanRecordPath(const BlobCache& cache, const Reference& ref, const std::string& platform) {
  std::string key = std::string(DigestHex(ref.digest)) + "-" + (platform.empty() ? "default" : platform);
  for (char& c : key) {
    if (c == '/') c = '_';
  }
  return cache.blobs_dir() + "/../../plans/" + key + ".json";
}

json PlanToJson(const FetchedImage& image) {
  auto blob = [](const FetchedBlob& b) { return json{{"digest", b.digest}, {"size", b.size}, {"media_type", b.media_type}}; };
  json layers = json::array();
  for (const auto& l : image.layers) layers.push_back(blob(l));
  return {{"manifest_digest", image.manifest_digest}, {"manifest_media_type", image.manifest_media_type},
          {"platform", image.index_platform}, {"config", blob(image.config)}, {"layers", layers}};
}

void SavePlanRecord(const BlobCache& cache, const FetchedImage& image, const std::string& requested_platform) {
  const std::string path = PlanRecordPath(cache, image.reference, requested_platform);
  const std::string dir = path.substr(0, path.rfind('/'));
  ::mkdir(dir.c_str(), 0755);
  const std::string temp = path + ".tmp." + std::to_string(::getpid());
  UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return;
  std::string text = PlanToJson(image).dump();
  bool ok = ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd.get()) == 0;
  if (ok) ok = ::rename(temp.c_str(), path.c_str()) == 0;
  if (!ok) ::unlink(temp.c_str());
}

// A digest reference whose plan and every blob are cached needs no network at all.
std::optional<FetchedImage> OfflineImage(const BlobCache& cache, const Reference& ref, const FetchOptions& options) {
  if (ref.digest.empty()) return std::nullopt;
  UniqueFd fd(::open(PlanRecordPath(cache, ref, options.platform).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  auto text = ReadWholeFd(fd.get(), options.max_document_bytes, "cached plan");
  if (!text) return std::nullopt;
  auto parsed = ParseJsonBounded(*text, 8);
  if (!parsed) return std::nullopt;
  auto plan = ipc::ResolvedPlanFromJson(*parsed, options.max_layers);
  if (!plan) return std::nullopt;
  FetchedImage image;
  image.reference = ref;
  image.manifest_digest = plan->manifest_digest;
  image.manifest_media_type = plan->manifest_media_type;
  image.index_platform = plan->platform;
  image.config = {plan->config.digest, plan->config.size, plan->config.media_type, true};
  for (const auto& l : plan->layers) image.layers.push_back({l.digest, l.size, l.media_type, true});
  image.used_network = false;
  return image;
}

bool AllCached(const BlobCache& cache, const FetchedImage& image) {
  if (!cache.Contains(image.config.digest, image.config.size)) return false;
  for (const auto& l : image.layers) {
    if (!cache.Contains(l.digest, l.size)) return false;
  }
  return true;
}

// The PEM of every <dir>/<registry>/*.crt, bounded so it fits one control message.
Result<std::string> RegistryCaPem(const std::vector<std::string>& dirs, const std::string& registry) {
  std::string pem;
  for (const std::string& base : dirs) {
    const std::string dir = base + "/" + registry;
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) continue;
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name.size() > 4 && name.ends_with(".crt")) names.push_back(name);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      UniqueFd fd(::open((dir + "/" + name).c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd) return Error::FromErrno("reading " + dir + "/" + name);
      BANGER_ASSIGN_OR_RETURN(std::string text, ReadWholeFd(fd.get(), 32 * 1024, dir + "/" + name));
      pem += text + "\n";
    }
  }
  if (pem.size() > 40 * 1024) return Error{ErrorCode::kOversized, "CA certificates for " + registry + " exceed 40 KiB"};
  return pem;
}

void Emit(const FetchOptions& options, FetchEvent::Kind kind, const std::string& digest, uint64_t bytes, uint64_t total) {
  if (options.on_event) options.on_event(FetchEvent{kind, digest, bytes, total});
}

// The platform is the image config's own (os, architecture, variant): never the flag's
// word, nor the fetcher's. A --platform the image is not refuses, as docker does; so does
// an index entry that claims another platform than its config.
Result<void> SettlePlatform(const BlobCache& cache, FetchedImage& image, const FetchOptions& options) {
  std::optional<UniqueFd> config = cache.OpenBlob(image.config.digest, image.config.size);
  if (!config) return Error{ErrorCode::kNotFound, "config " + image.config.digest + " left the cache"};
  BANGER_ASSIGN_OR_RETURN(std::string text, ReadWholeFd(config->get(), options.max_document_bytes, "image config"));
  auto declared = PlatformFromConfig(text);
  if (!declared) return declared.error().Wrap("config " + image.config.digest + " of " + image.reference.String());
  const std::string actual = declared->String();
  if (!options.platform.empty()) {
    BANGER_ASSIGN_OR_RETURN(Platform wanted, ParsePlatform(options.platform));
    if (!PlatformMatches(*declared, wanted)) {
      return Error{ErrorCode::kInvalidArgument, image.reference.String() + " is " + actual + ", not the requested " +
                                                    wanted.String() +
                                                    (image.index_platform.empty()
                                                         ? " (it names one image, not an index of several)"
                                                         : " (its index lists it as " + image.index_platform + ")")};
    }
  } else if (!image.index_platform.empty()) {
    auto listed = ParsePlatform(image.index_platform);
    if (!listed || !PlatformMatches(*declared, *listed)) {
      return Error{ErrorCode::kMalformed, image.reference.String() + ": the index lists " + image.manifest_digest +
                                              " as " + image.index_platform + ", but its config says " + actual};
    }
  }
  image.platform = actual;
  if (options.on_platform) BANGER_TRY(options.on_platform(*declared));
  return {};
}

class BlobDownloads {
 public:
  BlobDownloads(const BlobCache& cache, security::SandboxedChild& fetcher, const FetchOptions& options)
      : cache_(cache), fetcher_(fetcher), options_(options) {}

  Result<uint64_t> Run(const std::vector<FetchedBlob*>& wanted) {
    std::deque<FetchedBlob*> pending(wanted.begin(), wanted.end());
    uint64_t downloaded = 0;
    auto last_heard = Clock::now();
    const size_t parallel = static_cast<size_t>(std::max(1, options_.parallel_downloads));
    while (!pending.empty() || !in_flight_.empty()) {
      // Start what may start; a blob another banger is downloading waits at the back.
      for (size_t tries = pending.size(); tries > 0 && in_flight_.size() < parallel; --tries) {
        FetchedBlob* blob = pending.front();
        pending.pop_front();
        BANGER_ASSIGN_OR_RETURN(std::optional<UniqueFd> claim, TryClaimDownload(cache_.oci_dir(), blob->digest));
        if (!claim) {
          if (waiting_.insert(blob).second) Emit(options_, FetchEvent::kWaiting, blob->digest, 0, blob->size);
          pending.push_back(blob);
          continue;
        }
        if (cache_.Contains(blob->digest, blob->size)) {  // the other banger's download finished
          blob->from_cache = true;
          Emit(options_, FetchEvent::kCached, blob->digest, blob->size, blob->size);
          continue;
        }
        BANGER_TRY(Start(*blob, std::move(*claim)));
      }
      if (in_flight_.empty()) {
        if (!pending.empty()) BANGER_TRY(PauseUnlessStopped(kWaitPollMs));
        continue;
      }
      auto message = fetcher_.ReceiveExpecting({ipc::MessageType::kBlobProgress, ipc::MessageType::kBlobDone},
                                               pending.empty() ? kBlobSilenceTimeoutMs : kWaitPollMs);
      if (!message && message.error().code == ErrorCode::kTimeout && !pending.empty() &&
          Clock::now() - last_heard < std::chrono::milliseconds(kBlobSilenceTimeoutMs)) {
        continue;
      }
      if (!message) return message.error();
      last_heard = Clock::now();
      BANGER_ASSIGN_OR_RETURN(json body, message->Json());
      auto it = in_flight_.end();
      uint64_t bytes = 0;
      try {
        it = in_flight_.find(body.at("id").get<uint64_t>());
        bytes = body.at("bytes").get<uint64_t>();
      } catch (const json::exception&) {
      }
      if (it == in_flight_.end()) {
        fetcher_.Kill();
        return Error{ErrorCode::kChildFailed, "banger-fetcher reported on a blob nobody asked for"};
      }
      FetchedBlob& blob = *it->second.blob;
      if (message->type == ipc::MessageType::kBlobProgress) {
        Emit(options_, FetchEvent::kProgress, blob.digest, std::min(bytes, blob.size), blob.size);
        continue;
      }
      BANGER_TRY(cache_.Commit(it->second.incoming, blob.digest, blob.size,
                               blob.media_type.find("config") != std::string::npos ? "config" : "layer"));
      downloaded += blob.size;
      Emit(options_, FetchEvent::kDone, blob.digest, blob.size, blob.size);
      in_flight_.erase(it);  // releases the download claim
    }
    return downloaded;
  }

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr int kWaitPollMs = 100;

  struct InFlight {
    FetchedBlob* blob;
    UniqueFd incoming;
    UniqueFd claim;
  };

  static Result<void> PauseUnlessStopped(int ms) {
    pollfd stop{security::StopFd(), POLLIN, 0};
    if (::poll(&stop, 1, ms) > 0) return Error{ErrorCode::kStopped, security::StopReason()};
    return {};
  }

  Result<void> Start(FetchedBlob& blob, UniqueFd claim) {
    BANGER_ASSIGN_OR_RETURN(UniqueFd incoming, cache_.CreateIncoming());
    ipc::BlobRequest request{next_id_, {blob.digest, blob.size, blob.media_type}};
    ipc::Message message = ipc::Message::WithJson(ipc::MessageType::kFetchBlob, ipc::ToJson(request));
    message.fds.push_back(UniqueFd(::fcntl(incoming.get(), F_DUPFD_CLOEXEC, 0)));
    BANGER_TRY(fetcher_.Send(message));
    Emit(options_, FetchEvent::kStarted, blob.digest, 0, blob.size);
    if (options_.on_download_started) options_.on_download_started(blob.digest, incoming.get());
    in_flight_.emplace(next_id_++, InFlight{&blob, std::move(incoming), std::move(claim)});
    return {};
  }

  const BlobCache& cache_;
  security::SandboxedChild& fetcher_;
  const FetchOptions& options_;
  std::map<uint64_t, InFlight> in_flight_;
  std::set<const FetchedBlob*> waiting_;
  uint64_t next_id_ = 1;
};

}  // namespace

std::vector<std::string> FetchedImage::Digests() const {
  std::vector<std::string> digests{manifest_digest, config.digest};
  for (const auto& l : layers) digests.push_back(l.digest);
  return digests;
}

Result<security::SandboxedChild> StartFetcher(const FetchOptions& options) {
  security::SpawnOptions spawn;
  if (options.fetcher_path.empty()) {
    BANGER_ASSIGN_OR_RETURN(spawn.executable, LocateHelper(security::ProcessKind::kFetcher));
  } else {
    spawn.executable = options.fetcher_path;
  }
  spawn.name = "banger-fetcher";
  spawn.spec = security::SpecForCurrentBroker(security::ProcessKind::kFetcher);
  spawn.spec.BindReadOnly(options.resolv_conf, "/etc/resolv.conf");
  for (const char* proxy : {"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"}) {
    if (const char* value = std::getenv(proxy)) spawn.environment.push_back(std::string(proxy) + "=" + value);
  }
  return security::SandboxedChild::Spawn(std::move(spawn));
}

Result<FetchedImage> FetchImage(const BlobCache& cache, const FetchOptions& options) {
  BANGER_ASSIGN_OR_RETURN(Reference ref, ParseReference(options.reference));
  BANGER_ASSIGN_OR_RETURN(std::shared_ptr<CacheLease> lease, CacheLease::Take(cache.oci_dir()));
  if (auto offline = OfflineImage(cache, ref, options)) {
    BANGER_TRY(lease->Hold(offline->Digests()));
    if (AllCached(cache, *offline)) {
      BANGER_TRY(SettlePlatform(cache, *offline, options));
      offline->lease = lease;
      Emit(options, FetchEvent::kResolved, offline->manifest_digest, 0, 0);
      for (const auto& l : offline->layers) Emit(options, FetchEvent::kCached, l.digest, l.size, l.size);
      return *offline;
    }
  }
  // Mirrors of the reference's registry first: asked anonymously (the registry's
  // credentials never go to a mirror, invariant I6), their bytes verified like any
  // registry's; whatever goes wrong there, the registry itself is asked next.
  for (const std::string& mirror : options.mirrors) {
    FetchOptions via = options;
    via.reference = mirror + "/" + ref.repository + (ref.digest.empty() ? ":" + ref.tag : "@" + ref.digest);
    via.credentials = [](const std::string&) -> Result<RegistryCredentials> { return RegistryCredentials{}; };
    via.on_plan = nullptr;
    via.on_download_started = nullptr;
    auto fetched = FetchFromRegistry(cache, via, lease);
    if (fetched) {
      fetched->reference = ref;
      fetched->mirror = mirror;
      return fetched;
    }
    if (fetched.error().code == ErrorCode::kStopped) return fetched.error();
  }
  return FetchFromRegistry(cache, options, lease);
}

Result<FetchedImage> FetchFromRegistry(const BlobCache& cache, const FetchOptions& options,
                                       const std::shared_ptr<CacheLease>& lease) {
  BANGER_ASSIGN_OR_RETURN(Reference ref, ParseReference(options.reference));

  ipc::ResolveRequest resolve;
  resolve.reference = ref.String();
  resolve.platform = options.platform.empty() ? kIndexDefaultPlatform : options.platform;
  resolve.allow_plain_http = ref.IsLoopback();
  for (const std::string& host : options.insecure_registries) resolve.allow_plain_http |= host == ref.registry;
  resolve.max_document_bytes = options.max_document_bytes;
  resolve.max_layers = options.max_layers;
  auto credentials = options.credentials ? options.credentials(ref.registry) : LookupCredentials(ref.registry);
  if (!credentials) return credentials.error();
  resolve.username = credentials->username;
  resolve.password = credentials->password;
  resolve.identity_token = credentials->identity_token;
  BANGER_ASSIGN_OR_RETURN(resolve.ca_pem, RegistryCaPem(options.certs_dirs, ref.registry));

  BANGER_ASSIGN_OR_RETURN(security::SandboxedChild fetcher, StartFetcher(options));

  UniqueFd manifest_sink(::memfd_create("banger-manifest", MFD_CLOEXEC));
  if (!manifest_sink) return Error::FromErrno("memfd_create");
  ipc::Message request = ipc::Message::WithJson(ipc::MessageType::kResolve, ipc::ToJson(resolve));
  request.fds.push_back(UniqueFd(::fcntl(manifest_sink.get(), F_DUPFD_CLOEXEC, 0)));
  BANGER_TRY(fetcher.Send(request));
  BANGER_ASSIGN_OR_RETURN(ipc::Message resolved, fetcher.ReceiveExpecting({ipc::MessageType::kResolved}, kResolveTimeoutMs));
  BANGER_ASSIGN_OR_RETURN(json plan_json, resolved.Json());
  BANGER_ASSIGN_OR_RETURN(ipc::ResolvedPlan plan, ipc::ResolvedPlanFromJson(plan_json, options.max_layers));

  if (plan.config.size > options.max_document_bytes) {
    return Error{ErrorCode::kOversized, "config " + plan.config.digest + " of " + ref.String() + " is " +
                                            std::to_string(plan.config.size) + " bytes, over the limit of " +
                                            std::to_string(options.max_document_bytes)};
  }
  // Verify the fetcher's word: the manifest bytes hash to the digest it names, and every
  // blob it asks us to fetch is named in those bytes.
  BANGER_ASSIGN_OR_RETURN(std::string manifest, ReadWholeFd(manifest_sink.get(), options.max_document_bytes, "manifest"));
  BANGER_ASSIGN_OR_RETURN(std::string manifest_digest, Sha256OfFd(manifest_sink.get()));
  if (manifest_digest != plan.manifest_digest) {
    return Error{ErrorCode::kChildFailed, "banger-fetcher named manifest " + plan.manifest_digest +
                                             " but its bytes hash to " + manifest_digest + " (" + ref.String() + ")"};
  }
  auto named = [&](const std::string& digest) { return manifest.find("\"" + digest + "\"") != std::string::npos; };
  if (!named(plan.config.digest)) return Error{ErrorCode::kChildFailed, "banger-fetcher's plan names a config the manifest does not"};
  for (const auto& l : plan.layers) {
    if (!named(l.digest)) return Error{ErrorCode::kChildFailed, "banger-fetcher's plan names layer " + l.digest + " the manifest does not"};
  }

  FetchedImage image;
  image.reference = ref;
  image.manifest_digest = plan.manifest_digest;
  image.manifest_media_type = plan.manifest_media_type;
  image.index_platform = plan.platform;
  image.config = {plan.config.digest, plan.config.size, plan.config.media_type, false};
  for (const auto& l : plan.layers) image.layers.push_back({l.digest, l.size, l.media_type, false});
  image.lease = lease;
  BANGER_TRY(lease->Hold(image.Digests()));  // before the cache is consulted: see cache_lease.h
  Emit(options, FetchEvent::kResolved, image.manifest_digest, 0, 0);
  if (options.on_plan) options.on_plan(image);

  // The manifest itself is content too: keep it, verified, beside the blobs.
  if (!cache.Contains(manifest_digest, manifest.size())) {
    BANGER_ASSIGN_OR_RETURN(UniqueFd incoming, cache.CreateIncoming());
    BANGER_TRY(PwriteAll(incoming.get(), manifest, 0, "caching the manifest"));
    BANGER_TRY(cache.Commit(incoming, manifest_digest, manifest.size(), "manifest"));
  }

  // The config first, so that the platform is settled before a layer byte moves.
  BlobDownloads downloads(cache, fetcher, options);
  std::map<std::string, bool> queued;
  auto not_cached = [&](std::vector<FetchedBlob*> blobs) {
    std::vector<FetchedBlob*> wanted;
    for (FetchedBlob* blob : blobs) {
      if (cache.Contains(blob->digest, blob->size)) {
        blob->from_cache = true;
        Emit(options, FetchEvent::kCached, blob->digest, blob->size, blob->size);
      } else if (!queued[blob->digest]) {
        queued[blob->digest] = true;
        wanted.push_back(blob);
      }
    }
    return wanted;
  };
  BANGER_ASSIGN_OR_RETURN(image.downloaded_bytes, downloads.Run(not_cached({&image.config})));
  BANGER_TRY(SettlePlatform(cache, image, options));
  std::vector<FetchedBlob*> layers;
  for (auto& l : image.layers) layers.push_back(&l);
  BANGER_ASSIGN_OR_RETURN(uint64_t layer_bytes, downloads.Run(not_cached(layers)));
  image.downloaded_bytes += layer_bytes;

  if (auto status = security::ReadProcStatus(fetcher.pid())) image.fetcher_peak_rss_kib = status->peak_rss_kib;
  BANGER_TRY(fetcher.Send(ipc::Message::Make(ipc::MessageType::kShutdown)));
  security::ChildExit end = fetcher.Wait(30000);
  if (end.signaled || end.code != 0) return Error{ErrorCode::kChildFailed, "banger-fetcher " + end.Describe() + " at shutdown"};
  if (!ref.digest.empty()) SavePlanRecord(cache, image, options.platform);
  return image;
}

}  // namespace banger::broker
