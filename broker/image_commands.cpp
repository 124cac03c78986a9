#include "broker/image_commands.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <ostream>

#include <unistd.h>

#include "broker/cli_output.h"
#include "broker/config.h"
#include "broker/exit_codes.h"
#include "broker/flags.h"
#include "broker/pull.h"
#include "security/stop_signal.h"
#include "base/platform.h"

namespace banger::broker {
namespace {

constexpr const char* kPullUsage =
    "usage: banger image pull REF [--name N] [--kernel-ref K] [--size S] [--platform P]\n"
    "                             [--insecure-registry H]... [--parallel N] [--force] [--json] [-q]\n"
    "                             [--catalog SRC] [--no-guest-assets] [--limit NAME=VALUE]...\n"
    "\n"
    "Pulls REF from its registry and writes a bootable rootfs.ext4 for it, through the\n"
    "sandboxed fetcher, unpacker and imager, into $BANGER_STATE_DIR/images/<id>/\n"
    "(root: /var/lib/banger; else ~/.local/state/banger). A name from the image catalog\n"
    "(banger image catalog) takes its pre-built bundle instead.\n"
    "\n"
    "  --name N               image name (default from REF: docker.io/library/debian:bookworm\n"
    "                         is debian-bookworm)\n"
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
    "  --json                 print one JSON object per line: progress events, then the\n"
    "                         result (the image record with \"event\": \"result\")\n"
    "  -q                     print only errors\n";


}  // namespace

int RunImagePullCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  FlagSpec spec{{"--name", "--kernel-ref", "--size", "--platform", "--insecure-registry", "--parallel", "--limit", "--catalog"},
                {"--force", "--no-guest-assets", "--json", "-q", "--help", "-h"},
                {"--insecure-registry", "--limit"}};
  auto flags = ParseFlags(args, spec);
  if (!flags) return ReportUsage(err, flags.error().message, "image pull");
  if (flags->Has("--help") || flags->Has("-h")) {
    out << kPullUsage;
    return kExitOk;
  }
  if (flags->positional.size() != 1) return ReportUsage(err, "image pull takes exactly one reference", "image pull");
  PullOptions options;
  options.reference = flags->positional[0];
  options.name = flags->Value("--name").value_or("");
  options.kernel_ref = flags->Value("--kernel-ref").value_or("");
  options.platform = flags->Value("--platform").value_or("");
  if (!options.platform.empty()) {
    if (auto platform = ParsePlatform(options.platform); !platform) {
      return ReportUsage(err, platform.error().message, "image pull");
    }
  }
  // The config's values first (docs/install.md), the command line on top.
  const Config& config = ActiveConfig();
  options.insecure_registries = config.insecure_registries;
  for (const std::string& host : flags->All("--insecure-registry")) options.insecure_registries.push_back(host);
  options.parallel_downloads = config.parallel_downloads;
  for (const RegistryMirror& m : config.mirrors) options.mirrors[m.registry].push_back(m.mirror);
  options.unpack_limits = config.unpack_limits;
  options.force = flags->Has("--force");
  options.guest_assets = !flags->Has("--no-guest-assets");
  options.catalog_source = flags->Value("--catalog").value_or("");
  if (!options.kernel_ref.empty() && !IsValidImageName(options.kernel_ref)) {
    return ReportUsage(err, "invalid --kernel-ref '" + options.kernel_ref + "'", "image pull");
  }
  if (auto size = flags->Value("--size")) {
    auto bytes = ParseSize(*size);
    if (!bytes) return ReportUsage(err, bytes.error().message, "image pull");
    options.size_bytes = *bytes;
  }
  if (auto parallel = flags->Value("--parallel")) {
    auto n = ParseIntFlag("--parallel", *parallel, 1, 16);
    if (!n) return ReportUsage(err, n.error().message, "image pull");
    options.parallel_downloads = static_cast<int>(*n);
  }
  for (const std::string& limit : flags->All("--limit")) {
    const size_t eq = limit.find('=');
    const std::string key = limit.substr(0, eq);
    const auto& names = UnpackLimitNames();
    if (eq == std::string::npos || std::find(names.begin(), names.end(), key) == names.end()) {
      return ReportUsage(err, "--limit wants NAME=VALUE with NAME one of the bounds --help lists, not '" + limit + "'", "image pull");
    }
    auto value = ParseIntFlag("--limit " + key, limit.substr(eq + 1), 1, std::numeric_limits<long>::max());
    if (!value) return ReportUsage(err, value.error().message, "image pull");
    options.unpack_limits[key] = static_cast<uint64_t>(*value);
  }
  const bool json = flags->Has("--json"), quiet = flags->Has("-q");
  PullProgress progress(json    ? PullProgress::Mode::kJson
                        : quiet ? PullProgress::Mode::kQuiet
                        : ::isatty(STDOUT_FILENO) ? PullProgress::Mode::kTerminal
                                                  : PullProgress::Mode::kPlain,
                        out);
  options.progress = &progress;
  security::InstallStopSignals();
  auto pulled = PullImage(options);
  if (!pulled) return ReportError(err, pulled.error(), options.reference);
  for (const auto& w : pulled->warnings) progress.Warning(w);
  nlohmann::json record = pulled->image.record;
  record["rootfs"] = pulled->image.dir + "/rootfs.ext4";
  record["peak_rss_kib"] = pulled->peak_rss_kib;
  progress.Result(record, "pulled " + pulled->image.record.value("name", "") + ": " + pulled->image.dir +
                              "/rootfs.ext4 (" + HumanBytes(pulled->filesystem_bytes) + ", " +
                              HumanBytes(pulled->content_bytes) + " of content" +
                              (pulled->guest_init.empty() ? "" : "; guest init: " + pulled->guest_init) + ")");
  return kExitOk;
}

int RunImageInspectCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  auto flags = ParseFlags(args, FlagSpec{{}, {"--help", "-h"}, {}});
  if (!flags) return ReportUsage(err, flags.error().message, "image inspect");
  if (flags->Has("--help") || flags->Has("-h")) {
    out << "usage: banger image inspect NAME\n\nPrints an image's record (image.json) with its rootfs path.\n";
    return kExitOk;
  }
  if (flags->positional.size() != 1) return ReportUsage(err, "image inspect takes one image name", "image inspect");
  auto store = ImageStore::Open(DefaultStateRoot());
  if (!store) return ReportError(err, store.error(), "");
  auto image = store->FindByName(flags->positional[0]);
  if (!image) return ReportError(err, Error{ErrorCode::kNotFound, "no image named '" + flags->positional[0] + "'"}, "");
  nlohmann::json record = image->record;
  record["rootfs"] = image->dir + "/rootfs.ext4";
  out << record.dump(2) << "\n";
  return kExitOk;
}

int RunImageRemoveCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  auto flags = ParseFlags(args, FlagSpec{{}, {"--help", "-h", "-q"}, {}});
  if (!flags) return ReportUsage(err, flags.error().message, "image rm");
  if (flags->Has("--help") || flags->Has("-h")) {
    out << "usage: banger image rm NAME...\n\nRemoves pulled images (their rootfs.ext4 and record).\n";
    return kExitOk;
  }
  if (flags->positional.empty()) return ReportUsage(err, "image rm takes at least one image name", "image rm");
  auto store = ImageStore::Open(DefaultStateRoot());
  if (!store) return ReportError(err, store.error(), "");
  int status = kExitOk;
  for (const std::string& name : flags->positional) {
    auto image = store->FindByName(name);
    if (!image) {
      status = ReportError(err, Error{ErrorCode::kNotFound, "no image named '" + name + "'"}, "");
      continue;
    }
    if (auto removed = store->Remove(*image); !removed) {
      status = ReportError(err, removed.error(), "");
      continue;
    }
    if (!flags->Has("-q")) out << "removed " << name << "\n";
  }
  return status;
}

int RunImageListCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  FlagSpec spec{{}, {"--json", "--help", "-h"}, {}};
  auto flags = ParseFlags(args, spec);
  if (!flags) return ReportUsage(err, flags.error().message, "image list");
  if (flags->Has("--help") || flags->Has("-h")) {
    out << "usage: banger image list [--json]\n\nLists the pulled images.\n";
    return kExitOk;
  }
  if (!flags->positional.empty()) return ReportUsage(err, "image list takes no arguments", "image list");
  auto store = ImageStore::Open(DefaultStateRoot());
  if (!store) return ReportError(err, store.error(), "");
  const auto images = store->List();
  if (flags->Has("--json")) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& image : images) list.push_back(image.record);
    out << list.dump(2) << "\n";
    return kExitOk;
  }
  out << std::left << std::setw(24) << "NAME" << std::setw(18) << "ID" << std::setw(10) << "SIZE" << "REF\n";
  for (const auto& image : images) {
    out << std::setw(24) << image.record.value("name", "") << std::setw(18) << image.id << std::setw(10)
        << HumanBytes(image.record.value("filesystem_bytes", uint64_t{0})) << image.record.value("ref", "") << "\n";
  }
  return kExitOk;
}

}  // namespace banger::broker
