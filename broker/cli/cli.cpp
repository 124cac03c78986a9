#include "broker/cli/cli.h"

#include <algorithm>
#include <ostream>

#include "banger_version.h"
#include "base/text.h"
#include "broker/cli/audit_trail.h"
#include "broker/cli/commands.h"
#include "broker/cli/context.h"
#include "broker/cli/exit_codes.h"
#include "broker/cli/output.h"

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
    "  system audit verify [--head HASH] [FILE...]\n"
    "                   check the audit log's hash chain; exit 1 naming the first broken link\n"
    "\n"
    "configuration: /etc/banger/config, or the file $BANGER_CONFIG names (docs/install.md);\n"
    "$BANGER_STATE_DIR and $BANGER_CACHE_DIR override its state_dir and cache_dir.\n"
    "\n"
    "exit status: 0 ok, 1 error, 2 usage, 3 sandbox violation or crashed helper,\n"
    "             130/143 stopped by SIGINT/SIGTERM (nothing is published)\n";


// The command whose name's words `args` starts with, and how many words that took.
std::pair<const Command*, size_t> Find(const Args& args) {
  for (const Command* command : AllCommands()) {
    size_t words = 0;
    for (size_t start = 0; start <= command->spec.name.size(); ++words) {
      const size_t end = std::min(command->spec.name.find(' ', start), command->spec.name.size());
      if (words >= args.size() || args[words] != command->spec.name.substr(start, end - start)) break;
      start = end + 1;
      if (end == command->spec.name.size()) return {command, words + 1};
    }
  }
  return {nullptr, 0};
}

// A command named only in part ("image", "image cache", "system"): what it may be.
// "image cache --help" is the one command group with help of its own.
int UnknownCommand(const Args& args, std::ostream& out, std::ostream& err) {
  if (args[0] == "image" && args.size() >= 2 && args[1] == "cache") {
    if (args.size() == 3 && (args[2] == "--help" || args[2] == "-h")) {
      out << ImageCachePruneCommand().spec.usage;
      return kExitOk;
    }
    return ReportUsage(err, "unknown 'image cache' command; the one there is: prune", "image cache prune");
  }
  if (args[0] == "image") return ReportUsage(err, "unknown 'image' command; try 'banger image pull --help'", "");
  if (args[0] == "system") {
    return ReportUsage(err, "unknown 'system' command; try 'banger system status', 'install', 'uninstall' or 'audit verify'", "");
  }
  return ReportUsage(err, "unknown command '" + args[0] + "'", "");
}

// A command root runs that acts: its start in the audit log before it runs (or it is
// refused), its end after, with the error line it printed.
int RunAudited(const Command& command, CliContext& context, const ParsedFlags& flags, const Args& args, std::ostream& out,
               std::ostream& err) {
  Args argv{"banger"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto trail = AuditTrail::Begin(context.config, context.config_path, command.spec.name, argv);
  if (!trail) {
    err << "banger: error: "
        << TerminalSafe("the audit log cannot record this request, so it is refused: " + trail.error().message) << "\n";
    return kExitError;
  }
  context.audit = &*trail;
  ErrorLineTap tap(err);
  const int status = command.run(context, flags, out, tap.stream());
  tap.stream().flush();
  auto ended = trail->End(status, tap.last_error());
  for (const std::string& warning : trail->warnings()) err << "banger: warning: " << TerminalSafe(warning) << "\n";
  if (!ended) {
    err << "banger: error: " << TerminalSafe("the audit log could not record how this request ended: " + ended.error().message)
        << "\n";
    return status == kExitOk ? kExitError : status;
  }
  return status;
}

}  // namespace

const std::vector<const Command*>& AllCommands() {
  static const std::vector<const Command*> commands = {
      &ImagePullCommand(),      &ImageListCommand(),      &ImageInspectCommand(),     &ImageRemoveCommand(),
      &ImageFetchCommand(),     &ImageCatalogCommand(),   &ImageBundleCommand(),      &ImageCachePruneCommand(),
      &SystemStatusCommand(),   &SystemInstallCommand(),  &SystemUninstallCommand(), &SystemAuditVerifyCommand()};
  return commands;
}

int RunCli(const Args& args, std::ostream& out, std::ostream& err) {
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
  const auto [command, words] = Find(args);
  if (command == nullptr) return UnknownCommand(args, out, err);
  const Args rest(args.begin() + static_cast<ptrdiff_t>(words), args.end());
  // Help needs no config, and must work when the config is broken.
  const bool wants_help = std::find(rest.begin(), rest.end(), "--help") != rest.end() ||
                          std::find(rest.begin(), rest.end(), "-h") != rest.end();
  auto context = LoadContext(/*read_config=*/command->reads_config && !wants_help);
  if (!context) {
    err << "banger: error: " << TerminalSafe(context.error().message) << "\n";
    return kExitError;
  }
  auto parsed = ParseCommand(command->spec, rest, out, err);
  if (const int* status = std::get_if<int>(&parsed)) return *status;
  if (!command->audited || !context->env.root) return command->run(*context, std::get<ParsedFlags>(parsed), out, err);
  return RunAudited(*command, *context, std::get<ParsedFlags>(parsed), args, out, err);
}

}  // namespace banger::broker
