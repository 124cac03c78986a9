#include "broker/cli/commands.h"

#include <unistd.h>

#include <limits>
#include <ostream>

#include "base/platform.h"
#include "base/reference.h"
#include "base/text.h"
#include "broker/cli/exit_codes.h"
#include "broker/cli/flags.h"
#include "broker/cli/output.h"
#include "broker/cli/progress.h"
#include "broker/host/config.h"
#include "broker/pull/pull.h"
#include "security/stop_signal.h"

namespace banger::broker {
namespace {

constexpr const char* kPullUsage =
    "usage: banger image pull REF [--name N] [--kernel-ref K] [--size S] [--platform P]\n"
    "                             [--insecure-registry H]... [--parallel N] [--force] [--json] [-q]\n"
    "                             [--catalog SRC] [--no-guest-assets] [--limit NAME=VALUE]...\n"
    "                             [--signature-policy FILE]\n"
    "\n"
    "Pulls REF from its registry and writes a bootable rootfs.ext4 for it, through the\n"
    "sandboxed fetcher, unpacker and imager, into $BANGER_STATE_DIR/images/<id>/\n"
    "(root: /var/lib/banger; else ~/.local/state/banger). A name from the image catalog\n"
    "(banger image catalog) takes its pre-built bundle instead.\n"
    "\n"
    "  --name N               image name (default from REF's repository and tag:\n"
    "                         docker.io/library/debian:bookworm is debian-bookworm,\n"
    "                         ghcr.io/org/app:1 is org-app-1)\n"
    "  --kernel-ref K         kernel to record with the image\n"
    "  --size S               filesystem size: 4GiB, 512M, or a bare number of MiB\n"
    "                         (default: content x 1.5, at least 1 GiB)\n"
    "  --platform P           os/arch[/variant] to pick from a multi-platform image (default\n"
    "                         linux/amd64); a single-platform image must be P. Without it, a\n"
    "                         single-platform image is pulled whatever its platform. image.json\n"
    "                         records the platform the image's config declares\n"
    "  --insecure-registry H  allow plain HTTP to registry H (loopback always may)\n"
    "  --parallel N           blobs downloaded at once (default: the config's parallel_downloads, 3)\n"
    "  --force                replace an image of the same name\n"
    "  --signature-policy FILE  the signature policy (containers-policy.json format) instead of\n"
    "                         the config's signature_policy (default /etc/banger/policy.json;\n"
    "                         none: every image is accepted). Signatures are checked before any\n"
    "                         layer is fetched; image.json records the verdict (docs/signatures.md)\n"
    "  --catalog SRC          the catalog to consult (path or URL; default $BANGER_CATALOG,\n"
    "                         /etc/banger/catalog.json, else the built-in one). A name in it\n"
    "                         takes the bundle fast path instead of a registry\n"
    "  --no-guest-assets      leave out banger's agent, scripts and units (by default they are\n"
    "                         injected and enabled for systemd or OpenRC, whichever the image has)\n"
    "  --limit NAME=VALUE     adjust an unpack bound: max_layer_bytes (64 GiB uncompressed),\n"
    "                         max_total_bytes (256 GiB uncompressed), max_spool_bytes (256 GiB of\n"
    "                         file data, holes not counted), max_unpack_seconds (3600),\n"
    "                         max_entries (10 million), max_depth (4096), max_path_bytes (4096),\n"
    "                         zstd_window_log_max (27), max_header_bytes (1 MiB: tar headers\n"
    "                         before one entry; libarchive refuses a PAX header over 1 MiB\n"
    "                         whatever this says)\n"
    "  --json                 print one JSON event per line: progress, warnings, then the\n"
    "                         result (the image record with \"event\": \"result\") or an\n"
    "                         error event (docs/cli.md)\n"
    "  -q                     print only the reference pulled, and errors and warnings\n";


// The flags' unpack bounds on top of the config's; a usage error names a bad one.
Result<ipc::UnpackLimits> UnpackLimitsFrom(const Config& config, const ParsedFlags& flags) {
  ipc::UnpackLimits limits;
  for (const auto& [name, value] : config.unpack_limits) {
    if (std::optional<uint64_t>* slot = limits.Find(name)) *slot = value;
  }
  for (const std::string& limit : flags.All("--limit")) {
    const size_t eq = limit.find('=');
    std::optional<uint64_t>* slot = eq == std::string::npos ? nullptr : limits.Find(limit.substr(0, eq));
    if (slot == nullptr) {
      return Error{ErrorCode::kInvalidArgument,
                   "--limit wants NAME=VALUE with NAME one of the bounds --help lists, not '" + limit + "'"};
    }
    BANGER_ASSIGN_OR_RETURN(long value, ParseIntFlag("--limit " + limit.substr(0, eq), limit.substr(eq + 1), 1,
                                                     std::numeric_limits<long>::max()));
    *slot = static_cast<uint64_t>(value);
  }
  return limits;
}

// The config's values first (docs/install.md), the command line on top; errors are
// usage errors.
Result<PullOptions> OptionsFrom(const CliContext& context, const ParsedFlags& flags) {
  const Config& config = context.config;
  PullOptions options;
  options.reference = flags.positional[0];
  options.name = flags.Value("--name").value_or("");
  options.kernel_ref = flags.Value("--kernel-ref").value_or("");
  options.platform = flags.Value("--platform").value_or("");
  if (!options.platform.empty()) BANGER_TRY(ParsePlatform(options.platform));
  if (!options.kernel_ref.empty() && !IsValidImageName(options.kernel_ref)) {
    return Error{ErrorCode::kInvalidArgument, "invalid --kernel-ref '" + options.kernel_ref + "'"};
  }
  options.insecure_registries = config.insecure_registries;
  options.egress_allow = config.egress_allow;
  options.tenant = context.tenant();
  BANGER_ASSIGN_OR_RETURN(std::vector<std::string> insecure, InsecureRegistryFlags(flags));
  options.insecure_registries.insert(options.insecure_registries.end(), insecure.begin(), insecure.end());
  options.parallel_downloads = config.parallel_downloads;
  options.min_download_rate = config.min_download_rate;
  options.download_grace_seconds = config.download_grace_seconds;
  if (auto parallel = flags.Value("--parallel")) {
    BANGER_ASSIGN_OR_RETURN(long n, ParseIntFlag("--parallel", *parallel, 1, 16));
    options.parallel_downloads = static_cast<int>(n);
  }
  for (const RegistryMirror& m : config.mirrors) options.mirrors[m.registry].push_back(m.mirror);
  BANGER_ASSIGN_OR_RETURN(options.unpack_limits, UnpackLimitsFrom(config, flags));
  if (auto size = flags.Value("--size")) {
    BANGER_ASSIGN_OR_RETURN(options.size_bytes, ParseSize(*size));
  }
  options.force = flags.Has("--force");
  options.guest_assets = !flags.Has("--no-guest-assets");
  BANGER_ASSIGN_OR_RETURN(options.catalog, context.Catalog(flags.Value("--catalog").value_or("")));
  options.cache_root = context.CacheRoot();
  options.state_root = context.StateRoot();
  if (context.tenant()) {
    const TenantLimits limits = LimitsFor(config, context.requester.user, context.requester.gids);
    options.quota = {limits.max_images, limits.max_bytes,
                     context.requester.user.empty() ? "uid " + std::to_string(context.requester.uid) : context.requester.user};
  }
  options.scratch_root = context.env.tmpdir;
  options.credentials = context.Credentials();
  options.test_stall_file = context.env.test_stall_file;
  return options;
}

PullProgress::Mode ModeOf(const CliContext& context, const ParsedFlags& flags) {
  if (flags.Has("--json")) return PullProgress::Mode::kJson;
  if (flags.Has("-q")) return PullProgress::Mode::kQuiet;
  return context.env.stdout_terminal ? PullProgress::Mode::kTerminal : PullProgress::Mode::kPlain;
}


int Pull(const CliContext& context, const ParsedFlags& flags, std::ostream& out, std::ostream& err) {
  context.Note({{"reference", flags.positional[0]}});
  auto options = OptionsFrom(context, flags);
  if (!options) return ReportUsage(err, options.error().message, "image pull");
  auto policy = context.SignaturePolicy(flags.Value("--signature-policy").value_or(""));
  if (!policy) return ReportError(err, policy.error(), options->reference);
  if (*policy) options->trust = &**policy;
  PullProgress progress(ModeOf(context, flags), out, err, context.env.terminal_columns);
  options->observer = &progress;
  security::InstallStopSignals();
  auto helpers = context.Helpers();  // after the signals: their fd stops the helpers
  if (!helpers) return ReportError(err, helpers.error(), options->reference);
  options->helpers = std::move(*helpers);
  auto pulled = PullImage(*options);
  if (!pulled) return ReportError(err, pulled.error(), options->reference);
  for (const auto& w : pulled->warnings) progress.Warning(w);
  nlohmann::json record = pulled->image.record;
  context.Note({{"image", record.value("name", "")},
                {"image_id", record.value("id", "")},
                {"source", record.value("source", "")},
                {"manifest_digest", record.value("manifest_digest", "")},
                {"config_digest", record.value("config_digest", "")},
                {"platform", record.value("platform", "")},
                {"filesystem_bytes", pulled->filesystem_bytes},
                {"content_bytes", pulled->content_bytes}});
  if (record.contains("signature")) context.Note({{"signature", record["signature"]}});
  if (auto ref = ParseReference(record.value("ref", "")); ref && record.value("source", "") == "oci") {
    context.Note({{"registry", ref->registry}});
  }
  record["rootfs"] = pulled->image.rootfs();
  record["peak_rss_kib"] = pulled->peak_rss_kib;
  progress.Result(record, "pulled " + pulled->image.record.value("name", "") + ": " + pulled->image.rootfs() + " (" +
                              HumanBytes(pulled->filesystem_bytes) + ", " + HumanBytes(pulled->content_bytes) +
                              " of content" +
                              (pulled->guest_init.empty() ? "" : "; guest init: " + pulled->guest_init) + ")");
  return kExitOk;
}

}  // namespace

const Command& ImagePullCommand() {
  static const Command command{
      {"image pull", kPullUsage,
       {{"--name", "--kernel-ref", "--size", "--platform", "--insecure-registry", "--parallel", "--limit", "--catalog",
         "--signature-policy"},
        {"--force", "--no-guest-assets", "--json", "-q"},
        {"--insecure-registry", "--limit"}},
       kOneReference},
      true, Pull, /*audited=*/true};
  return command;
}

}  // namespace banger::broker
