#include "broker/cli/cli.h"

#include <algorithm>
#include <ostream>

#include "banger_version.h"
#include "broker/cli/cache_commands.h"
#include "broker/cli/catalog_commands.h"
#include "broker/cli/context.h"
#include "broker/cli/exit_codes.h"
#include "broker/cli/fetch_command.h"
#include "broker/cli/image_commands.h"
#include "broker/cli/output.h"
#include "broker/cli/pull_command.h"
#include "broker/cli/system_commands.h"

namespace banger::broker {
namespace {

constexpr const char* kUsage =
    "usage: banger [--version] [--help] <command> [<args>]\n"
    "\n"
    "banger turns container images into bootable ext4 root filesystems for microVMs,\n"
    "through a privilege-separated, sandboxed pipeline.\n"
    "\n"
    "commands:\n"
    "  image pull REF   pull an image and write a bootable rootfs.ext4 for it\n"
    "  image list       list the pulled images\n"
    "  image inspect N  print an image's record and rootfs path\n"
    "  image rm N...    remove pulled images\n"
    "  image fetch REF  download an image's blobs into the verified cache\n"
    "  image catalog    list the image catalog (names pulled from pre-built bundles)\n"
    "  image bundle N --out F\n"
    "                   write pulled image N as a catalog bundle and print its entry\n"
    "  image cache prune [--dry-run]\n"
    "                   remove cached blobs no running pull uses\n"
    "  system status    show the config in use, the install, the kernel's sandbox support,\n"
    "                   and start each sandboxed helper, lock it down and show what the\n"
    "                   kernel reports about it (no_new_privs, seccomp, capabilities, uid)\n"
    "  system install [--prefix DIR] [--user NAME] ...\n"
    "                   install banger and its helpers, their system user, the state and\n"
    "                   cache dirs and /etc/banger/config (root; idempotent)\n"
    "  system uninstall [--purge]\n"
    "                   remove what system install made (images kept unless --purge)\n"
    "\n"
    "configuration: /etc/banger/config, or the file $BANGER_CONFIG names (docs/install.md);\n"
    "$BANGER_STATE_DIR and $BANGER_CACHE_DIR override its state_dir and cache_dir.\n"
    "\n"
    "exit status: 0 ok, 1 error, 2 usage, 3 sandbox violation or crashed helper,\n"
    "             130/143 stopped by SIGINT/SIGTERM (nothing is published)\n";


}  // namespace

namespace {

int RunImageCommand(const CliContext& context, const std::vector<std::string>& args, std::ostream& out,
                    std::ostream& err) {
  using Command = int (*)(const CliContext&, const std::vector<std::string>&, std::ostream&, std::ostream&);
  static const std::pair<const char*, Command> kCommands[] = {
      {"pull", RunImagePullCommand},       {"list", RunImageListCommand},   {"inspect", RunImageInspectCommand},
      {"rm", RunImageRemoveCommand},       {"fetch", RunImageFetchCommand}, {"cache", RunImageCacheCommand},
      {"catalog", RunImageCatalogCommand}, {"bundle", RunImageBundleCommand}};
  const std::vector<std::string> rest(args.begin() + std::min<size_t>(2, args.size()), args.end());
  for (const auto& [name, run] : kCommands) {
    if (args.size() >= 2 && args[1] == name) return run(context, rest, out, err);
  }
  return ReportUsage(err, "unknown 'image' command; try 'banger image pull --help'", "");
}

}  // namespace

int RunCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    err << kUsage;
    return kExitUsage;
  }
  const std::string& first = args[0];
  if (first == "--help" || first == "-h" || first == "help") {
    out << kUsage;
    return kExitOk;
  }
  if (first == "--version") {
    out << "banger " << BANGER_VERSION << "\n";
    return kExitOk;
  }
  // install and uninstall handle their own config dir (and must work when the config is
  // broken); every other command starts from the config.
  const std::vector<std::string> rest(args.begin() + std::min<size_t>(2, args.size()), args.end());
  if (first == "system" && args.size() >= 2 && args[1] == "install") return RunSystemInstall(rest, out, err);
  if (first == "system" && args.size() >= 2 && args[1] == "uninstall") return RunSystemUninstall(rest, out, err);
  if (first != "image" && first != "system") return ReportUsage(err, "unknown command '" + first + "'", "");
  // Help needs no config, and must work when the config is broken.
  const bool wants_help = std::find(args.begin(), args.end(), "--help") != args.end() ||
                          std::find(args.begin(), args.end(), "-h") != args.end();
  auto context = LoadContext(/*read_config=*/!wants_help);
  if (!context) {
    err << "banger: error: " << context.error().message << "\n";
    return kExitError;
  }
  if (first == "image") return RunImageCommand(*context, args, out, err);
  if (args.size() >= 2 && args[1] == "status") return RunSystemStatus(*context, rest, out, err);
  return ReportUsage(err, "unknown 'system' command; try 'banger system status', 'install' or 'uninstall'", "");
}

}  // namespace banger::broker
