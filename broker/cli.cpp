#include "broker/cli.h"

#include <algorithm>
#include <ostream>

#include "banger_version.h"
#include "broker/exit_codes.h"
#include "broker/cache_commands.h"
#include "broker/catalog_commands.h"
#include "broker/cli_output.h"
#include "broker/image_commands.h"
#include "broker/image_fetch_command.h"
#include "broker/config.h"
#include "broker/system_install.h"
#include "broker/system_status.h"

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
  // The config applies to every command but install and uninstall, which handle their
  // own config dir (and must work when the config is broken); help needs none.
  const bool wants_help = std::find(args.begin(), args.end(), "--help") != args.end() ||
                          std::find(args.begin(), args.end(), "-h") != args.end();
  const bool installing = first == "system" && args.size() >= 2 && (args[1] == "install" || args[1] == "uninstall");
  if (!wants_help && !installing) {
    auto config = LoadConfig();
    if (!config) {
      err << "banger: error: " << config.error().message << "\n";
      return kExitError;
    }
    ApplyConfig(*config);
  }
  if (first == "image") {
    const std::vector<std::string> rest(args.begin() + std::min<size_t>(2, args.size()), args.end());
    if (args.size() >= 2 && args[1] == "pull") return RunImagePullCommand(rest, out, err);
    if (args.size() >= 2 && args[1] == "list") return RunImageListCommand(rest, out, err);
    if (args.size() >= 2 && args[1] == "inspect") return RunImageInspectCommand(rest, out, err);
    if (args.size() >= 2 && args[1] == "rm") return RunImageRemoveCommand(rest, out, err);
    if (args.size() >= 2 && args[1] == "fetch") return RunImageFetchCommand(rest, out, err);
    if (args.size() >= 2 && args[1] == "cache") return RunImageCacheCommand(rest, out, err);
    if (args.size() >= 2 && args[1] == "catalog") return RunImageCatalogCommand(rest, out, err);
    if (args.size() >= 2 && args[1] == "bundle") return RunImageBundleCommand(rest, out, err);
    return ReportUsage(err, "unknown 'image' command; try 'banger image pull --help'", "");
  }
  if (first == "system") {
    const std::vector<std::string> rest(args.begin() + std::min<size_t>(2, args.size()), args.end());
    if (args.size() == 2 && args[1] == "status") return RunSystemStatus(out, err);
    if (args.size() == 3 && args[1] == "status" && (args[2] == "--help" || args[2] == "-h")) {
      out << "usage: banger system status\n\n"
             "Shows the config file in use, whether banger is installed (CONFIG_DIR/installed.json)\n"
             "and where, where images and cached blobs go, and whether the kernel offers seccomp\n"
             "and user namespaces; then starts each helper in its sandbox and reports what /proc\n"
             "says about it, with the user it runs as. Exit 3 when a helper is not confined.\n";
      return kExitOk;
    }
    if (args.size() >= 2 && args[1] == "install") return RunSystemInstall(rest, out, err);
    if (args.size() >= 2 && args[1] == "uninstall") return RunSystemUninstall(rest, out, err);
    return ReportUsage(err, "unknown 'system' command; try 'banger system status', 'install' or 'uninstall'", "");
  }
  return ReportUsage(err, "unknown command '" + first + "'", "");
}

}  // namespace banger::broker
