#include "broker/pull/fetch.h"

#include <algorithm>
#include <map>

#include "base/sha256.h"
#include "broker/pull/blob_downloads.h"
#include "broker/pull/helper_start.h"
#include "broker/pull/signatures.h"
#include "broker/pull/sink_request.h"
#include "broker/store/plan_records.h"
#include "ipc/fetch_protocol.h"

namespace banger::broker {
namespace {

constexpr int kResolveTimeoutMs = 15 * 60 * 1000;
constexpr int kFetcherShutdownTimeoutMs = 30000;
constexpr const char* kIndexDefaultPlatform = "linux/amd64";

void Emit(const FetchOptions& options, FetchEvent::Kind kind, const std::string& digest, uint64_t bytes, uint64_t total) {
  if (options.on_event) options.on_event(FetchEvent{kind, digest, bytes, total});
}

ipc::ResolvedPlan PlanOf(const FetchedImage& image) {
  auto blob = [](const FetchedBlob& b) { return ipc::BlobRef{b.digest, b.size, b.media_type}; };
  ipc::ResolvedPlan plan{{}, image.manifest_digest, image.manifest_media_type, image.index_platform, blob(image.config), {}};
  for (const auto& l : image.layers) plan.layers.push_back(blob(l));
  return plan;
}

FetchedImage ImageOf(const Reference& ref, const ipc::ResolvedPlan& plan, bool cached) {
  FetchedImage image;
  image.reference = ref;
  image.manifest_digest = plan.manifest_digest;
  image.resolved_digest = plan.indexes.empty() ? plan.manifest_digest : plan.indexes.front().digest;
  image.manifest_media_type = plan.manifest_media_type;
  image.index_platform = plan.platform;
  image.config = {plan.config.digest, plan.config.size, plan.config.media_type, cached};
  for (const auto& l : plan.layers) image.layers.push_back({l.digest, l.size, l.media_type, cached});
  return image;
}

bool AllCached(const BlobCache& cache, const FetchedImage& image) {
  if (!cache.Contains(image.config.digest, image.config.size)) return false;
  for (const auto& l : image.layers) {
    if (!cache.Contains(l.digest, l.size)) return false;
  }
  return true;
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
      return Error{ErrorCode::kInvalidArgument,
                   image.reference.String() + " is " + actual + ", not the requested " + wanted.String() +
                       (image.index_platform.empty() ? " (it names one image, not an index of several)"
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

// A digest reference whose plan and every blob are cached needs no network at all.
std::optional<FetchedImage> OfflineImage(const BlobCache& cache, const Reference& ref, const FetchOptions& options) {
  if (ref.digest.empty()) return std::nullopt;
  auto plan = PlanRecords(cache.layout()).Load({ref.registry, ref.repository, ref.digest, options.platform},
                                              options.max_layers);
  if (!plan) return std::nullopt;
  FetchedImage image = ImageOf(ref, *plan, true);
  image.used_network = false;
  return image;
}

// Where the fetcher may connect for `ref`: its registry (or mirror), the host's proxies,
// and other hosts at public addresses, at the registry's kind of address, or in the
// config's egress_allow (network_gate.h).
Result<EgressPolicy> EgressPolicyFor(const Reference& ref, const FetchOptions& options) {
  EgressPolicy policy;
  policy.registry = EndpointOf(ref.ApiHost(), {443, 80});
  const auto named = [&](const std::vector<std::string>& hosts) {
    return std::find(hosts.begin(), hosts.end(), ref.registry) != hosts.end();
  };
  policy.tenant = options.tenant && !named(options.insecure_registries) && !named(options.mirrors);
  for (const std::string& range : options.egress_allow) {
    BANGER_ASSIGN_OR_RETURN(Cidr cidr, ParseCidr(range));
    policy.allow.push_back(cidr);
  }
  return policy;
}

// The fetcher's resolve request for `ref`, credentials and CAs included.
Result<ipc::ResolveRequest> ResolveRequestFor(const Reference& ref, const FetchOptions& options) {
  ipc::ResolveRequest resolve;
  resolve.reference = ref.String();
  resolve.platform = options.platform.empty() ? kIndexDefaultPlatform : options.platform;
  resolve.allow_plain_http = ref.IsLoopback();
  for (const std::string& host : options.insecure_registries) resolve.allow_plain_http |= host == ref.registry;
  resolve.max_document_bytes = options.max_document_bytes;
  resolve.max_layers = options.max_layers;
  if (options.credentials) {
    BANGER_ASSIGN_OR_RETURN(RegistryCredentials credentials, options.credentials(ref.registry));
    resolve.username = credentials.username;
    resolve.password = credentials.password;
    resolve.identity_token = credentials.identity_token;
  }
  BANGER_ASSIGN_OR_RETURN(resolve.ca_pem, RegistryCaPem(options.certs_dirs, ref.registry));
  return resolve;
}

// How the fetcher's plan differs from the one its documents give, for the error.
std::string PlanDifference(const ipc::ResolvedPlan& claimed, const ipc::ResolvedPlan& derived) {
  if (claimed.indexes != derived.indexes) return "its indexes";
  if (claimed.manifest_digest != derived.manifest_digest) return "its manifest digest";
  if (claimed.manifest_media_type != derived.manifest_media_type) return "its manifest media type";
  if (claimed.platform != derived.platform) {
    return "its platform ('" + claimed.platform + "', the index says '" + derived.platform + "')";
  }
  if (!(claimed.config == derived.config)) return "its config";
  if (claimed.layers.size() != derived.layers.size()) {
    return "its layer count (" + std::to_string(claimed.layers.size()) + ", the manifest lists " +
           std::to_string(derived.layers.size()) + ")";
  }
  for (size_t i = 0; i < claimed.layers.size(); ++i) {
    if (!(claimed.layers[i] == derived.layers[i])) return "layer " + std::to_string(i);
  }
  return "nothing";
}

// The documents the fetcher wrote into `sink`: each index its plan names, then the
// manifest (the rest).
Result<std::vector<std::string>> SplitDocuments(security::SandboxedChild& fetcher, int sink,
                                                const ipc::ResolvedPlan& plan, const FetchOptions& options) {
  const uint64_t bound = options.max_document_bytes * (plan.indexes.size() + 1);
  BANGER_ASSIGN_OR_RETURN(std::string all, ReadWholeFd(sink, bound, "manifest"));
  std::vector<std::string> documents;
  size_t offset = 0;
  for (const ipc::IndexDocument& index : plan.indexes) {
    if (index.size > all.size() - offset) return fetcher.BrokeProtocol("its indexes are longer than what it wrote");
    documents.push_back(all.substr(offset, index.size));
    offset += index.size;
  }
  documents.push_back(all.substr(offset));
  return documents;
}

// Has the fetcher resolve `ref`, then checks its word against the bytes it handed over:
// the broker hashes each document, derives the plan from them itself with the same code
// (ipc::DerivePlan), and requires the fetcher's plan to be exactly that one. A digest
// reference pins the first document, index or manifest.
Result<FetchedImage> Resolve(security::SandboxedChild& fetcher, const Reference& ref, const FetchOptions& options,
                             std::string& manifest) {
  BANGER_ASSIGN_OR_RETURN(ipc::ResolveRequest resolve, ResolveRequestFor(ref, options));
  BANGER_ASSIGN_OR_RETURN(SinkAnswer resolved, AskWithSink(fetcher, ipc::MessageType::kResolve, ipc::Encode(resolve),
                                                           ipc::MessageType::kResolved, kResolveTimeoutMs, "banger-manifest"));
  auto plan = ipc::DecodeResolvedPlan(resolved.answer.body, options.max_layers);
  if (!plan) return fetcher.BrokeProtocol(plan.error().message);
  BANGER_ASSIGN_OR_RETURN(std::vector<std::string> documents, SplitDocuments(fetcher, resolved.sink.get(), *plan, options));
  manifest = std::move(documents.back());
  documents.pop_back();
  std::vector<std::string_view> indexes(documents.begin(), documents.end());
  BANGER_ASSIGN_OR_RETURN(Platform want, ParsePlatform(resolve.platform));
  const ipc::DocumentLimits limits{.max_bytes = options.max_document_bytes, .max_layers = options.max_layers};
  // The fetcher read these same bytes with this same code: a document it could not have
  // accepted, or a plan they do not give, is its lie.
  auto derived = ipc::DerivePlan(indexes, manifest, plan->manifest_media_type, want, limits, "manifest of " + ref.String());
  if (!derived) return fetcher.BrokeProtocol("its documents do not give an image: " + derived.error().message);
  if (!(*derived == *plan)) {
    return fetcher.BrokeProtocol("its plan differs from its documents in " + PlanDifference(*plan, *derived));
  }
  const std::string& first = plan->indexes.empty() ? plan->manifest_digest : plan->indexes.front().digest;
  if (!ref.digest.empty() && first != ref.digest) {
    return fetcher.BrokeProtocol("it resolved " + ref.String() + " to " + first);
  }
  if (plan->config.size > options.max_document_bytes) {
    return Error{ErrorCode::kOversized, "config " + plan->config.digest + " of " + ref.String() + " is " +
                                            std::to_string(plan->config.size) + " bytes, over the limit of " +
                                            std::to_string(options.max_document_bytes)};
  }
  FetchedImage image = ImageOf(ref, *plan, false);
  image.credentialed = !resolve.username.empty() || !resolve.password.empty() || !resolve.identity_token.empty();
  return image;
}

// Whether a cached blob may serve this fetch: for a tenant, only one a tenant's anonymous
// fetch brought in (anything else the registry must send to this tenant first).
bool Servable(const BlobCache& cache, const FetchOptions& options, const std::string& digest) {
  return !options.tenant || cache.Shared(digest);
}

// The blobs of `blobs` the cache lacks, each once, announcing the cached ones.
std::vector<FetchedBlob*> NotCached(const BlobCache& cache, const FetchOptions& options, std::vector<FetchedBlob*> blobs,
                                    std::map<std::string, bool>& queued) {
  std::vector<FetchedBlob*> wanted;
  for (FetchedBlob* blob : blobs) {
    if (cache.Contains(blob->digest, blob->size) && Servable(cache, options, blob->digest)) {
      blob->from_cache = true;
      Emit(options, FetchEvent::kCached, blob->digest, blob->size, blob->size);
    } else if (!queued[blob->digest]) {
      queued[blob->digest] = true;
      wanted.push_back(blob);
    }
  }
  return wanted;
}

// The config first, so that the platform is settled before a layer byte moves.
Result<void> DownloadBlobs(const BlobCache& cache, security::SandboxedChild& fetcher, const FetchOptions& options,
                           FetchedImage& image) {
  BlobDownloads downloads(cache, fetcher, options);
  std::map<std::string, bool> queued;
  BANGER_ASSIGN_OR_RETURN(image.downloaded_bytes, downloads.Run(NotCached(cache, options, {&image.config}, queued)));
  BANGER_TRY(SettlePlatform(cache, image, options));
  std::vector<FetchedBlob*> layers;
  for (auto& l : image.layers) layers.push_back(&l);
  BANGER_ASSIGN_OR_RETURN(uint64_t layer_bytes, downloads.Run(NotCached(cache, options, layers, queued)));
  image.downloaded_bytes += layer_bytes;
  return {};
}

// One registry, `options.reference`'s: resolve, keep the manifest, download what is missing.
// The signature policy applies to `named`, the reference the user wrote.
Result<FetchedImage> FetchFromRegistry(const BlobCache& cache, const FetchOptions& options,
                                       const std::shared_ptr<CacheLease>& lease, const Reference& named) {
  BANGER_ASSIGN_OR_RETURN(Reference ref, ParseReference(options.reference));
  BANGER_ASSIGN_OR_RETURN(EgressPolicy egress, EgressPolicyFor(ref, options));
  BANGER_ASSIGN_OR_RETURN(GatedFetcher gated, StartGatedFetcher(HelperLauncher(options.helpers), std::move(egress)));
  security::SandboxedChild& fetcher = gated.child;
  std::string manifest;
  BANGER_ASSIGN_OR_RETURN(FetchedImage image, Resolve(fetcher, ref, options, manifest));
  image.lease = lease;
  BANGER_TRY(lease->Hold(image.Digests()));  // before the cache is consulted: see cache_lease.h
  // Before the plan goes to the unpacker and before any blob: the signatures.
  if (options.verdict_only) {
    BANGER_ASSIGN_OR_RETURN(image.trust, JudgeTrust(&fetcher, cache, options, named, image));
    BANGER_TRY(fetcher.Shutdown(kFetcherShutdownTimeoutMs));
    return image;
  }
  BANGER_ASSIGN_OR_RETURN(image.trust, CheckTrust(&fetcher, cache, options, named, image));
  Emit(options, FetchEvent::kResolved, image.manifest_digest, 0, 0);
  if (options.on_plan) options.on_plan(image);
  // The manifest itself is content too: keep it, verified, beside the blobs.
  if (!cache.Contains(image.manifest_digest, manifest.size())) {
    BANGER_ASSIGN_OR_RETURN(IncomingBlob incoming, cache.Begin(image.manifest_digest, manifest.size(), "manifest"));
    BANGER_TRY(incoming.Append(manifest));
    BANGER_TRY(incoming.Commit());
  }
  BANGER_TRY(DownloadBlobs(cache, fetcher, options, image));
  // What the registry sent a tenant without credentials, any tenant may be served.
  if (options.tenant && !image.credentialed) {
    std::vector<std::string> downloaded;
    if (!image.config.from_cache) downloaded.push_back(image.config.digest);
    for (const auto& l : image.layers) {
      if (!l.from_cache) downloaded.push_back(l.digest);
    }
    BANGER_TRY(cache.MarkShared(downloaded));
  }
  if (auto status = security::ReadProcStatus(fetcher.pid())) image.fetcher_peak_rss_kib = status->peak_rss_kib;
  BANGER_TRY(fetcher.Shutdown(kFetcherShutdownTimeoutMs));
  return image;
}

// Best effort: without the record, the next pull of this digest asks the registry again.
// Keyed by the reference as the user wrote it, whether a mirror served it or not.
void RecordPlan(const BlobCache& cache, const Reference& ref, const FetchOptions& options, const FetchedImage& image) {
  if (ref.digest.empty() || options.verdict_only) return;  // a verdict alone fetched no blob
  (void)PlanRecords(cache.layout()).Save({ref.registry, ref.repository, ref.digest, options.platform}, PlanOf(image));
}

}  // namespace

std::vector<std::string> FetchedImage::Digests() const {
  std::vector<std::string> digests{manifest_digest, config.digest};
  for (const auto& l : layers) digests.push_back(l.digest);
  return digests;
}

Result<FetchedImage> FetchImage(const BlobCache& cache, const FetchOptions& options) {
  BANGER_ASSIGN_OR_RETURN(Reference ref, ParseReference(options.reference));
  BANGER_ASSIGN_OR_RETURN(std::shared_ptr<CacheLease> lease, CacheLease::Take(cache.layout()));
  // A tenant's request always asks the registry first: a plan cached from someone else's
  // credentialed pull is served only once the registry has answered this tenant.
  // Nor is an image whose policy scope needs signatures, which the registry holds.
  const bool needs_signatures = options.trust != nullptr && ScopeNeedsSignatures(options.trust->ScopeFor(ref));
  const bool online = options.tenant || needs_signatures || options.verdict_only;
  if (auto offline = online ? std::nullopt : OfflineImage(cache, ref, options)) {
    BANGER_TRY(lease->Hold(offline->Digests()));
    if (AllCached(cache, *offline)) {
      BANGER_ASSIGN_OR_RETURN(offline->trust, CheckTrust(nullptr, cache, options, ref, *offline));
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
    via.credentials = nullptr;
    via.on_plan = nullptr;
    via.on_download_started = nullptr;
    auto fetched = FetchFromRegistry(cache, via, lease, ref);
    if (fetched) {
      fetched->reference = ref;
      fetched->mirror = mirror;
      RecordPlan(cache, ref, options, *fetched);
      return fetched;
    }
    if (fetched.error().code == ErrorCode::kStopped) return fetched.error();
  }
  BANGER_ASSIGN_OR_RETURN(FetchedImage fetched, FetchFromRegistry(cache, options, lease, ref));
  RecordPlan(cache, ref, options, fetched);
  return fetched;
}

}  // namespace banger::broker
