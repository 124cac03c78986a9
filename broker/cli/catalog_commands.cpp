#include "broker/cli/commands.h"

#include <sys/stat.h>

#include <iomanip>
#include <nlohmann/json.hpp>

#include "base/json.h"
#include "base/text.h"
#include "broker/cli/exit_codes.h"
#include "broker/cli/flags.h"
#include "broker/cli/output.h"
#include "broker/pull/url_download.h"
#include "broker/registry/catalog.h"
#include "broker/store/bundle_writer.h"
#include "broker/store/image_lookup.h"
#include "broker/store/image_store.h"
#include "security/stop_signal.h"

namespace banger::broker {
namespace {

using nlohmann::json;

constexpr const char* kCatalogUsage =
    "usage: banger image catalog [--catalog SRC] [--json]\n"
    "\n"
    "Lists the image catalog: names `banger image pull NAME` takes from a pre-built bundle\n"
    "instead of a registry. SRC is a path or an https URL (http on loopback); the default\n"
    "is $BANGER_CATALOG, then /etc/banger/catalog.json, then the catalog built into banger.\n";

constexpr const char* kBundleUsage =
    "usage: banger image bundle IMAGE --out FILE.tar.zst [--force] [--url URL] [--distro D]\n"
    "                           [--description T] [--json]\n"
    "\n"
    "Writes a pulled image as a catalog bundle (manifest.json and rootfs.ext4 in a\n"
    "zstd-compressed tar) and prints its catalog entry; publish the file at URL and add the\n"
    "entry to a catalog's \"entries\". An existing FILE is kept unless --force is given.\n"
    "IMAGE is the image's name, its ID or a unique prefix of it, or its reference. --json\n"
    "prints the entry as one result event (docs/cli.md).\n";


std::string ArchOf(const std::string& platform) {
  const size_t slash = platform.find('/');
  if (slash == std::string::npos) return "";
  const size_t end = platform.find('/', slash + 1);
  return platform.substr(slash + 1, end == std::string::npos ? std::string::npos : end - slash - 1);
}



int ListCatalog(const CliContext& context, const ParsedFlags& flags, std::ostream& out, std::ostream& err) {
  security::InstallStopSignals();
  auto helpers = context.Helpers();
  if (!helpers) return ReportError(err, helpers.error(), "");
  const HelperLauncher launcher(std::move(*helpers));
  auto sources = context.Catalog(flags.Value("--catalog").value_or(""));
  if (!sources) return ReportError(err, sources.error(), "");
  auto catalog = LoadCatalog(*sources,
                             [&launcher](const std::string& url, uint64_t max) { return ReadUrl(launcher, url, max); });
  if (!catalog) return ReportError(err, catalog.error(), "");
  if (flags.Has("--json")) {
    json entries = json::array();
    for (const auto& e : catalog->entries) {
      entries.push_back({{"name", e.name}, {"distro", e.distro}, {"arch", e.arch}, {"kernel_ref", e.kernel_ref},
                         {"url", e.url}, {"sha256", e.sha256}, {"size", e.size}, {"description", e.description}});
    }
    out << DumpJson(json{{"source", catalog->source}, {"entries", entries}}, 2) << "\n";
    return kExitOk;
  }
  out << "catalog: " << TerminalSafe(catalog->source) << " (" << catalog->entries.size() << " image(s))\n";
  if (catalog->entries.empty()) return kExitOk;
  out << std::left << std::setw(24) << "NAME" << std::setw(10) << "ARCH" << std::setw(12) << "SIZE"
      << "DESCRIPTION\n";
  for (const auto& e : catalog->entries) {
    out << std::setw(24) << e.name << std::setw(10) << TerminalSafe(e.arch, 100) << std::setw(12) << HumanBytes(e.size) << TerminalSafe(e.description, 1000)
        << "\n";
  }
  return kExitOk;
}

int Bundle(const CliContext& context, const ParsedFlags& flags, std::ostream& out, std::ostream& err) {
  const auto out_path = flags.Value("--out");
  if (!out_path || out_path->empty()) return ReportUsage(err, "image bundle needs --out FILE.tar.zst", "image bundle");
  auto store = ImageStore::OpenForReading(context.StateRoot());
  if (!store) return ReportError(err, store.error(), "");
  context.Note({{"image", flags.positional[0]}, {"out", *out_path}});
  // Through bangerd, --out is a file the client created and passed, and publishes itself:
  // root opens, and looks at, no path a client names.
  if (context.requester.through_daemon && context.client_file < 0) {
    return ReportError(err, Error{ErrorCode::kInvalidArgument, "through bangerd, --out is a file the client creates and passes"},
                       "");
  }
  struct stat existing {};
  if (!context.requester.through_daemon && !flags.Has("--force") && ::lstat(out_path->c_str(), &existing) == 0) {
    return ReportError(err, Error{ErrorCode::kInvalidArgument, *out_path + " exists (--force replaces it)"}, "");
  }
  auto image = FindImage(*store, flags.positional[0]);
  if (!image) return ReportError(err, image.error(), "");
  const json& record = image->record;
  const std::string name = StringField(record, "name");
  const ipc::BundleManifest manifest{name, flags.Value("--distro").value_or(StringField(record, "distro")),
                                     ArchOf(StringField(record, "platform")), StringField(record, "kernel_ref")};
  auto written = context.client_file >= 0 ? WriteBundleTo(image->rootfs(), manifest, context.client_file)
                                          : WriteBundle(image->rootfs(), manifest, *out_path, flags.Has("--force"));
  if (!written) return ReportError(err, written.error(), *out_path);
  context.Note({{"image_id", image->id}, {"sha256", written->sha256}, {"size", written->size}});
  json entry = {{"name", manifest.name}, {"distro", manifest.distro}, {"arch", manifest.arch},
                {"kernel_ref", manifest.kernel_ref}};
  entry["url"] = flags.Value("--url").value_or("https://example.invalid/" + name + ".tar.zst");
  entry["sha256"] = written->sha256;
  entry["size"] = written->size;
  entry["description"] = flags.Value("--description").value_or(name + " (" + StringField(record, "ref") + ")");
  if (flags.Has("--json")) {
    entry["event"] = "result";
    EmitJsonEvent(out, entry);
  } else {
    out << DumpJson(entry, 2) << "\n";
  }
  return kExitOk;
}

}  // namespace

const Command& ImageCatalogCommand() {
  static const Command command{{"image catalog", kCatalogUsage, {{"--catalog"}, {"--json"}}}, true, ListCatalog};
  return command;
}

const Command& ImageBundleCommand() {
  static const Command command{
      {"image bundle", kBundleUsage, {{"--out", "--url", "--distro", "--description"}, {"--force", "--json"}}, kOneImageName}, true, Bundle,
      /*audited=*/true};
  return command;
}

}  // namespace banger::broker
