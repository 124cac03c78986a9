#include "broker/cli/commands.h"

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <ostream>

#include "base/platform.h"
#include "base/json.h"
#include "base/text.h"
#include "broker/cli/exit_codes.h"
#include "broker/cli/flags.h"
#include "broker/cli/output.h"
#include "broker/pull/fetch.h"
#include "broker/pull/signatures.h"
#include "security/stop_signal.h"

namespace banger::broker {
namespace {

constexpr const char* kImageFetchUsage =
    "usage: banger image fetch REF [--platform OS/ARCH[/VARIANT]] [--insecure-registry HOST]...\n"
    "                              [--parallel N] [--signature-policy FILE] [--json] [-q]\n"
    "\n"
    "Resolves REF (Docker's rules: 'alpine' is docker.io/library/alpine:latest) to one\n"
    "platform's image and downloads every blob the cache lacks, verified by sha256, into\n"
    "$BANGER_CACHE_DIR/oci/blobs/sha256 (root: /var/cache/banger; else ~/.cache/banger).\n"
    "Credentials come from $DOCKER_CONFIG/config.json (default ~/.docker/config.json),\n"
    "including credHelpers and credsStore; extra CAs from /etc/docker/certs.d/HOST/*.crt.\n"
    "\n"
    "  --platform P             image to pick from a multi-platform index (default linux/amd64);\n"
    "                           a single-platform image must be P\n"
    "  --insecure-registry H    allow plain HTTP to registry H (loopback is always allowed)\n"
    "  --parallel N             blobs downloaded at once (1-16; default: the config's parallel_downloads, 3)\n"
    "  --signature-policy FILE  the signature policy instead of the config's signature_policy:\n"
    "                           a refused image fetches no blob (docs/signatures.md)\n"
    "  --json                   print the result as one JSON event, or an error event\n"
    "                           (docs/cli.md)\n"
    "  -q                       print only the reference fetched, and errors\n";


constexpr const char* kImageVerifyUsage =
    "usage: banger image verify REF [--platform OS/ARCH[/VARIANT]] [--insecure-registry HOST]...\n"
    "                               [--signature-policy FILE] [--json]\n"
    "\n"
    "Checks REF against the signature policy as `image pull` would, without pulling it:\n"
    "resolves it, fetches its cosign signatures when the policy's scope for it needs them,\n"
    "and prints the verdict (docs/signatures.md). No layer is fetched. Exit status 0 when\n"
    "the policy accepts REF, 1 when it refuses it or REF cannot be resolved.\n"
    "\n"
    "  --platform P             image to pick from a multi-platform index (default linux/amd64)\n"
    "  --insecure-registry H    allow plain HTTP to registry H (loopback is always allowed)\n"
    "  --signature-policy FILE  the policy instead of the config's signature_policy\n"
    "                           (default /etc/banger/policy.json)\n"
    "  --json                   print the verdict as one JSON result event (also when\n"
    "                           refused, then followed by an error event: docs/cli.md)\n";

// Prints each blob's fate as it is known.
void PrintEvent(std::ostream& out, const FetchEvent& e) {
  switch (e.kind) {
    case FetchEvent::kResolved: out << "resolved " << e.digest << "\n"; break;
    case FetchEvent::kCached: out << "  " << e.digest << "  " << HumanBytes(e.total) << "  cached\n"; break;
    case FetchEvent::kDone: out << "  " << e.digest << "  " << HumanBytes(e.total) << "  downloaded\n"; break;
    default: break;
  }
  out.flush();
}


// What `image fetch` and `image verify` share: the reference, the platform, the host's
// registries and bounds, the caller's credentials. A bad flag is a usage error.
Result<FetchOptions> FetchOptionsFrom(const CliContext& context, const ParsedFlags& flags) {
  FetchOptions options;
  options.reference = flags.positional[0];
  context.Note({{"reference", options.reference}});
  options.platform = flags.Value("--platform").value_or("");
  if (!options.platform.empty()) BANGER_TRY(ParsePlatform(options.platform));
  const Config& config = context.config;
  options.insecure_registries = config.insecure_registries;
  options.egress_allow = config.egress_allow;
  options.tenant = context.tenant();
  BANGER_ASSIGN_OR_RETURN(std::vector<std::string> insecure, InsecureRegistryFlags(flags));
  options.insecure_registries.insert(options.insecure_registries.end(), insecure.begin(), insecure.end());
  options.parallel_downloads = config.parallel_downloads;
  options.min_download_rate = config.min_download_rate;
  options.download_grace_seconds = config.download_grace_seconds;
  if (auto ref = ParseReference(options.reference)) {
    for (const RegistryMirror& m : config.mirrors) {
      if (m.registry == ref->registry) options.mirrors.push_back(m.mirror);
    }
  }
  if (auto parallel = flags.Value("--parallel")) {
    BANGER_ASSIGN_OR_RETURN(long n, ParseIntFlag("--parallel", *parallel, 1, 16));
    options.parallel_downloads = static_cast<int>(n);
  }
  options.credentials = context.Credentials();
  return options;
}

struct Fetched {
  FetchedImage image;
  std::string blobs_dir;
};

// Fetches as `options` says, under the signature policy the flags or the config name.
Result<Fetched> FetchWithPolicy(const CliContext& context, const ParsedFlags& flags, FetchOptions options) {
  BANGER_ASSIGN_OR_RETURN(std::optional<TrustPolicy> policy,
                          context.SignaturePolicy(flags.Value("--signature-policy").value_or("")));
  if (policy) options.trust = &*policy;
  BANGER_ASSIGN_OR_RETURN(BlobCache cache, BlobCache::Open(context.CacheRoot()));
  security::InstallStopSignals();
  BANGER_ASSIGN_OR_RETURN(options.helpers, context.Helpers());  // after the signals: their fd stops the fetcher
  BANGER_ASSIGN_OR_RETURN(FetchedImage image, FetchImage(cache, options));
  return Fetched{std::move(image), cache.layout().blobs_dir()};
}

int Fetch(const CliContext& context, const ParsedFlags& flags, std::ostream& out, std::ostream& err) {
  auto options = FetchOptionsFrom(context, flags);
  if (!options) return ReportUsage(err, options.error().message, "image fetch");
  const bool json = flags.Has("--json");
  const bool quiet = flags.Has("-q");
  if (!json && !quiet) options->on_event = [&out](const FetchEvent& e) { PrintEvent(out, e); };
  const auto started = std::chrono::steady_clock::now();
  auto fetched = FetchWithPolicy(context, flags, *options);
  if (!fetched) return ReportError(err, fetched.error(), options->reference);
  const FetchedImage* image = &fetched->image;
  context.Note({{"manifest_digest", image->manifest_digest},
                {"config_digest", image->config.digest},
                {"platform", image->platform},
                {"downloaded_bytes", image->downloaded_bytes},
                {"registry", image->reference.registry}});
  if (image->trust) context.Note({{"signature", image->trust->ToJson()}});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (json) {
    nlohmann::json layers = nlohmann::json::array();
    for (const auto& l : image->layers) {
      layers.push_back({{"digest", l.digest}, {"size", l.size}, {"media_type", l.media_type}, {"cached", l.from_cache}});
    }
    EmitJsonEvent(out, nlohmann::json{{"event", "result"},
                          {"ref", image->reference.String()},
                          {"manifest_digest", image->manifest_digest},
                          {"manifest_media_type", image->manifest_media_type},
                          {"platform", image->platform},
                          {"config_digest", image->config.digest},
                          {"layers", layers},
                          {"downloaded_bytes", image->downloaded_bytes},
                          {"signature", image->trust ? image->trust->ToJson() : nlohmann::json()},
                          {"cache_dir", fetched->blobs_dir}});
  } else if (quiet) {
    out << image->reference.String() << "\n";
  } else {
    char timing[32];
    std::snprintf(timing, sizeof timing, "%.1f s", seconds);
    out << "fetched " << image->reference.String() << "@" << image->manifest_digest << " (" << image->platform
        << "): " << image->layers.size() << " layer(s), " << HumanBytes(image->downloaded_bytes) << " downloaded in "
        << timing << "\n";
  }
  return kExitOk;
}

int VerifyImage(const CliContext& context, const ParsedFlags& flags, std::ostream& out, std::ostream& err) {
  auto options = FetchOptionsFrom(context, flags);
  if (!options) return ReportUsage(err, options.error().message, "image verify");
  options->verdict_only = true;
  auto fetched = FetchWithPolicy(context, flags, *options);
  if (!fetched) return ReportError(err, fetched.error(), options->reference);
  const FetchedImage& image = fetched->image;
  context.Note({{"manifest_digest", image.manifest_digest}, {"registry", image.reference.registry}});
  if (!image.trust) {
    const std::string none = "no signature policy (--signature-policy, the config's signature_policy, or " +
                             std::string(kDefaultSignaturePolicy) + "): banger accepts every image";
    if (flags.Has("--json")) {
      EmitJsonEvent(out, {{"event", "result"}, {"ref", image.reference.String()}, {"manifest_digest", image.manifest_digest},
                          {"signature", nullptr}, {"message", none}});
    } else {
      out << image.reference.String() << ": " << none << "\n";
    }
    return kExitOk;
  }
  const TrustVerdict& verdict = *image.trust;
  context.Note({{"signature", verdict.ToJson()}});
  if (flags.Has("--json")) {
    EmitJsonEvent(out, {{"event", "result"}, {"ref", image.reference.String()}, {"manifest_digest", image.manifest_digest},
                        {"signature", verdict.ToJson()}});
  }
  if (!verdict.accepted) return ReportError(err, RefusalOf(image.reference, verdict), "");
  if (!flags.Has("--json")) {
    out << "accepted " << image.reference.String() << "@" << image.manifest_digest << ": " << verdict.requirements
        << " in " << verdict.scope << " of " << verdict.policy;
    if (!verdict.key_fingerprint.empty()) {
      out << " (key " << verdict.key_fingerprint << ", "
          << (verdict.digest_only ? std::string("no signed identity: bound by digest alone")
                                  : "signed identity " + TerminalSafe(verdict.signed_identity))
          << ", signs " << verdict.signed_digest << ")";
    }
    out << "\n";
  }
  return kExitOk;
}

}  // namespace

const Command& ImageVerifyCommand() {
  static const Command command{{"image verify", kImageVerifyUsage,
                                {{"--platform", "--insecure-registry", "--signature-policy"}, {"--json"}, {"--insecure-registry"}},
                                kOneReference},
                               true, VerifyImage, /*audited=*/true};
  return command;
}

const Command& ImageFetchCommand() {
  static const Command command{{"image fetch", kImageFetchUsage,
                                {{"--platform", "--insecure-registry", "--parallel", "--signature-policy"}, {"--json", "-q"}, {"--insecure-registry"}},
                                kOneReference},
                               true, Fetch, /*audited=*/true};
  return command;
}

}  // namespace banger::broker
