#include "broker/cli/cli.h"

#include <algorithm>
#include <ostream>
#include <set>
#include <sstream>
#include <variant>

#include "banger_version.h"
#include "base/reference.h"
#include "base/text.h"
#include "broker/cli/audit_trail.h"
#include "broker/cli/commands.h"
#include "broker/cli/context.h"
#include "broker/cli/daemon_client.h"
#include "broker/cli/exit_codes.h"
#include "broker/cli/help.h"
#include "broker/cli/output.h"
#include "broker/cli/tenant_rules.h"

namespace banger::broker {
namespace {

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

// How many of `args`' first words name a command group ("image", "image cache"): the
// longest such prefix, 0 when none.
size_t GroupWords(const Args& args) {
  size_t words = 0;
  std::string group;
  for (size_t i = 0; i < args.size(); ++i) {
    group += (i == 0 ? "" : " ") + args[i];
    if (IsCommandGroup(group)) words = i + 1;
  }
  return words;
}

std::string Joined(const Args& args, size_t from, size_t to) {
  std::string out;
  for (size_t i = from; i < to && i < args.size(); ++i) out += (i == from ? "" : " ") + args[i];
  return out;
}

// Arguments that name no command. A group alone is its help on stderr (exit 2), a
// group with --help its help on stdout; anything else is a usage error naming the word.
int UnknownCommand(const Args& args, std::ostream& out, std::ostream& err) {
  const size_t words = GroupWords(args);
  if (words == 0) return ReportUsage(err, "unknown command '" + args[0] + "'", "");
  const std::string group = Joined(args, 0, words);
  if (words == args.size()) {
    err << GroupUsage(group);
    return kExitUsage;
  }
  if (args.size() == words + 1 && (args[words] == "--help" || args[words] == "-h")) {
    out << GroupUsage(group);
    return kExitOk;
  }
  return ReportUsage(err, "unknown '" + group + "' command '" + args[words] + "'", group);
}

// `banger help [COMMAND...]`, `banger help --man`.
int Help(const Args& topic, std::ostream& out, std::ostream& err) {
  if (topic.empty()) {
    out << GlobalUsage();
    return kExitOk;
  }
  if (topic.size() == 1 && topic[0] == "--man") {
    out << ManPage();
    return kExitOk;
  }
  const std::string words = Joined(topic, 0, topic.size());
  for (const Command* command : AllCommands()) {
    if (command->spec.name == words) {
      out << command->spec.usage;
      return kExitOk;
    }
  }
  if (IsCommandGroup(words)) {
    out << GroupUsage(words);
    return kExitOk;
  }
  return ReportUsage(err, "no help for '" + words + "': it is not a banger command", "");
}

// What a user who is not an admin may ask bangerd for; the rest needs an admin.
bool TenantsMay(const Command& command) {
  static const std::set<std::string> names = {"image pull", "image list",    "image inspect", "image rm",
                                              "image fetch", "image catalog", "image bundle", "image verify"};
  return names.count(command.spec.name) != 0;
}

// Commands the client always runs itself: they install or remove the daemon, or read
// files its user can open.
bool RunsLocally(const Command& command) {
  static const std::set<std::string> names = {"system install", "system uninstall", "system audit verify", "completion"};
  return names.count(command.spec.name) != 0;
}

// "banger" and the arguments: what a request's audit records carry as its argv.
Args FullArgv(const Args& args) {
  Args argv{"banger"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

// A command root runs that acts: its start in the audit log before it runs (or it is
// refused), its end after, with the error line it printed.
int RunAudited(const Command& command, CliContext& context, const ParsedFlags& flags, const Args& args, std::ostream& out,
               std::ostream& err) {
  auto trail = AuditTrail::Begin(context.config, context.config_path, command.spec.name, FullArgv(args), context.requester);
  if (!trail) {
    err << "banger: error: "
        << TerminalSafe("the audit log cannot record this request, so it is refused: " + trail.error().message) << "\n";
    return kExitError;
  }
  context.audit = &*trail;
  std::string last_error;  // for the end record
  LineTap tap(err, [&last_error](const std::string& line) {
    if (auto message = ErrorLineMessage(line)) last_error = std::move(*message);
  });
  const int status = command.run(context, flags, out, tap.stream());
  tap.stream().flush();
  auto ended = trail->End(status, last_error);
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
      &ImageFetchCommand(),     &ImageVerifyCommand(),    &ImageCatalogCommand(),   &ImageBundleCommand(),      &ImageCachePruneCommand(),
      &SystemStatusCommand(),   &SystemInstallCommand(),  &SystemUninstallCommand(), &SystemAuditVerifyCommand(),
      &CompletionCommand()};
  return commands;
}

namespace {

// The command `args` names, or the exit status of having answered already (help, the
// version, an unknown command).
std::variant<std::pair<const Command*, size_t>, int> Resolve(const Args& args, std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    err << GlobalUsage();
    return kExitUsage;
  }
  const std::string& first = args[0];
  if (first == "--help" || first == "-h") {
    out << GlobalUsage();
    return kExitOk;
  }
  if (first == "help") return Help(Args(args.begin() + 1, args.end()), out, err);
  if (first == "--version") {
    out << "banger " << BANGER_VERSION << "\n";
    return kExitOk;
  }
  const auto found = Find(args);
  if (found.first == nullptr) return UnknownCommand(args, out, err);
  return found;
}

// Parses the command's flags and runs it in `context`, audited when root runs it.
int Dispatch(const Command& command, size_t words, CliContext& context, const Args& args, std::ostream& out,
             std::ostream& err) {
  const Args rest(args.begin() + static_cast<ptrdiff_t>(words), args.end());
  auto parsed = ParseCommand(command.spec, rest, out, err);
  if (const int* status = std::get_if<int>(&parsed)) return *status;
  const ParsedFlags& flags = std::get<ParsedFlags>(parsed);
  if (!command.audited || !context.env.root) return command.run(context, flags, out, err);
  return RunAudited(command, context, flags, args, out, err);
}

// The command's flags as Dispatch will read them, printing nothing: nullopt for a usage
// error or --help (Dispatch then says so itself).
std::optional<ParsedFlags> QuietlyParsed(const Command& command, size_t words, const Args& args) {
  std::ostringstream ignored;
  auto parsed = ParseCommand(command.spec, Args(args.begin() + static_cast<ptrdiff_t>(words), args.end()), ignored, ignored);
  if (ParsedFlags* flags = std::get_if<ParsedFlags>(&parsed)) return std::move(*flags);
  return std::nullopt;
}

// The caller's own credentials for the registry a pull or fetch names, looked up here, as
// the caller (the daemon reads no user's files): nullopt when it names none or there are
// none.
Result<std::optional<ipc::ForwardedCredentials>> ForwardedCredentialsFor(const Command& command,
                                                                          const std::optional<ParsedFlags>& flags,
                                                                          const CliContext& context) {
  using Forwarded = std::optional<ipc::ForwardedCredentials>;
  const auto None = [] { return Result<Forwarded>(Forwarded()); };
  if (command.spec.name != "image pull" && command.spec.name != "image fetch" && command.spec.name != "image verify") {
    return None();
  }
  if (!flags || flags->positional.empty()) return None();
  auto ref = ParseReference(flags->positional[0]);
  if (!ref) return None();  // a catalog name, or the daemon names the bad reference
  BANGER_ASSIGN_OR_RETURN(RegistryCredentials found, LookupCredentials(context.env, ref->registry));
  if (found.username.empty() && found.password.empty() && found.identity_token.empty()) return None();
  return Forwarded(ipc::ForwardedCredentials{ref->registry, found.username, found.password, found.identity_token});
}

// The file `image bundle --out` names, which the client creates and passes to the daemon.
std::string OutFileOf(const Command& command, const std::optional<ParsedFlags>& flags) {
  if (command.spec.name != "image bundle" || !flags) return "";
  return flags->Value("--out").value_or("");
}

bool WantsHelp(const Args& args) {
  return std::find(args.begin(), args.end(), "--help") != args.end() ||
         std::find(args.begin(), args.end(), "-h") != args.end();
}

int RunCliHere(const Args& args, std::ostream& out, std::ostream& err, std::ostream& relayed_err) {
  auto resolved = Resolve(args, out, err);
  if (const int* status = std::get_if<int>(&resolved)) return *status;
  const auto [command, words] = std::get<std::pair<const Command*, size_t>>(resolved);
  // Help needs no config, and must work when the config is broken.
  const bool wants_help = WantsHelp(args);
  auto context = LoadContext(/*read_config=*/command->reads_config && !wants_help);
  if (!context) {
    err << "banger: error: " << TerminalSafe(context.error().message) << "\n";
    return kExitError;
  }
  if (!RunsLocally(*command)) {
    auto daemon = DaemonSocketFor(context->env, context->config);
    if (!daemon) {
      err << "banger: error: " << TerminalSafe(daemon.error().message) << "\n";
      return kExitUsage;
    }
    if (*daemon) {
      const std::optional<ParsedFlags> flags = QuietlyParsed(*command, words, args);
      auto credentials = ForwardedCredentialsFor(*command, flags, *context);
      if (!credentials) {
        err << "banger: error: " << TerminalSafe(credentials.error().message) << "\n";
        return kExitError;
      }
      // The daemon's config decides where images and blobs go, for root's requests too.
      for (const auto& [variable, value] : {std::pair{"BANGER_STATE_DIR", context->env.state_dir},
                                            {"BANGER_CACHE_DIR", context->env.cache_dir},
                                            {"BANGER_CATALOG", context->env.catalog}}) {
        if (!value.empty()) err << "banger: warning: $" << variable << " is not used through bangerd (" << **daemon << ")\n";
      }
      return RunThroughDaemon(**daemon, args, context->env,
                              {std::move(*credentials), OutFileOf(*command, flags), flags && flags->Has("--force")}, out,
                              err, relayed_err);
    }
  }
  return Dispatch(*command, words, *context, args, out, err);
}

int RunCliForHere(const Requester& requester, const std::string& config_path, bool terminal, uint64_t columns,
                  int client_file, const Args& args, std::ostream& out, std::ostream& err) {
  auto resolved = Resolve(args, out, err);
  if (const int* status = std::get_if<int>(&resolved)) return *status;
  const auto [command, words] = std::get<std::pair<const Command*, size_t>>(resolved);
  auto context = LoadDaemonContext(config_path, requester, terminal, columns, client_file);
  if (!context) {
    err << "banger: error: " << TerminalSafe(context.error().message) << "\n";
    return kExitError;
  }
  // No exception for --help: a flag that takes a value may swallow "-h" (Dispatch parses
  // the same way), so the policy always runs on the flags as they will be read.
  const bool allowed = !RunsLocally(*command) && (requester.admin || TenantsMay(*command));
  std::string refusal;
  if (!allowed) {
    refusal = RunsLocally(*command) ? "'" + command->spec.name + "' runs where it is typed, not through bangerd"
                                    : "'" + command->spec.name + "' is for admins (the config's admin_group)";
  } else if (context->tenant()) {
    if (const std::optional<ParsedFlags> flags = QuietlyParsed(*command, words, args)) {
      if (auto checked = CheckTenantRequest(*context, command->spec.name, *flags); !checked) {
        refusal = checked.error().message;
      }
    }
  }
  if (!refusal.empty()) {
    if (auto recorded =
            AuditTrail::Refuse(context->config, config_path, command->spec.name, FullArgv(args), requester, refusal);
        !recorded) {
      err << "banger: error: " << TerminalSafe("the audit log cannot record this request: " + recorded.error().message)
          << "\n";
      return kExitError;
    }
    err << "banger: error: " << TerminalSafe(refusal) << "\n";
    return kExitError;
  }
  return Dispatch(*command, words, *context, args, out, err);
}

}  // namespace

// Commands whose --json output is one document (an array, an object) rather than
// events: a warning event before it would break it, so a warning stays a stderr line.
bool PrintsOneDocument(const Args& args) {
  const std::string words = args.size() >= 2 ? args[0] + " " + args[1] : "";
  return words == "image list" || words == "image inspect" || words == "image catalog";
}

// With --json, errors and warnings are also events on stdout (output.h). Through bangerd
// the daemon's run makes them, so what it sends for stderr is relayed untouched.
int RunCli(const Args& args, std::ostream& out, std::ostream& err) {
  JsonDiagnostics json(WantsJson(args), !PrintsOneDocument(args), out, err);
  return json.Finish(RunCliHere(args, out, json.err(), err));
}

int RunCliFor(const Requester& requester, const std::string& config_path, bool terminal, uint64_t columns, int client_file,
              const Args& args, std::ostream& out, std::ostream& err) {
  JsonDiagnostics json(WantsJson(args), !PrintsOneDocument(args), out, err);
  return json.Finish(RunCliForHere(requester, config_path, terminal, columns, client_file, args, out, json.err()));
}

}  // namespace banger::broker
