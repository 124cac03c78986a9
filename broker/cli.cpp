#include "broker/cli.h"

#include <algorithm>
#include <ostream>

#include "banger_version.h"
#include "broker/exit_codes.h"
#include "broker/cache_commands.h"
#include "broker/image_commands.h"
#include "broker/image_fetch_command.h"
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
    "  image cache prune [--dry-run]\n"
    "                   remove cached blobs no running pull uses\n"
    "  system status    start each sandboxed helper, lock it down and show what the\n"
    "                   kernel reports about it (no_new_privs, seccomp, capabilities, uid)\n"
    "\n"
    "exit status: 0 ok, 1 error, 2 usage, 3 sandbox violation or crashed helper,\n"
    "             130/143 stopped by SIGINT/SIGTERM (nothing is published)\n";

int UsageError(std::ostream& err, const std::string& what) {
  err << "banger: error: " << what << "\n" << "Run 'banger --help' for usage.\n";
  return kExitUsage;
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
  if (first == "image") {
    const std::vector<std::string> rest(args.begin() + std::min<size_t>(2, args.size()), args.end());
    if (args.size() >= 2 && args[1] == "pull") return RunImagePullCommand(rest, out, err);
    if (args.size() >= 2 && args[1] == "list") return RunImageListCommand(rest, out, err);
    if (args.size() >= 2 && args[1] == "inspect") return RunImageInspectCommand(rest, out, err);
    if (args.size() >= 2 && args[1] == "rm") return RunImageRemoveCommand(rest, out, err);
    if (args.size() >= 2 && args[1] == "fetch") return RunImageFetchCommand(rest, out, err);
    if (args.size() >= 2 && args[1] == "cache") return RunImageCacheCommand(rest, out, err);
    return UsageError(err, "unknown 'image' command; try 'banger image pull --help'");
  }
  if (first == "system") {
    if (args.size() == 2 && args[1] == "status") return RunSystemStatus(out, err);
    if (args.size() == 3 && args[1] == "status" && (args[2] == "--help" || args[2] == "-h")) {
      out << "usage: banger system status\n\nStarts each helper in its sandbox and reports what /proc says.\n";
      return kExitOk;
    }
    return UsageError(err, "unknown 'system' command; try 'banger system status'");
  }
  return UsageError(err, "unknown command '" + first + "'");
}

}  // namespace banger::broker
