#include "broker/cli/help.h"

#include <map>
#include <ostream>
#include <set>
#include <sstream>
#include <vector>

#include "banger_version.h"
#include "broker/cli/exit_codes.h"

namespace banger::broker {
namespace {

// The command list's lines, by command name. A command missing here has no line in
// --help, and the test that walks AllCommands() fails.
const std::map<std::string, CommandSummary>& Summaries() {
  static const std::map<std::string, CommandSummary> summaries = {
      {"image pull", {"REF", "pull an image and write a bootable rootfs.ext4 for it"}},
      {"image list", {"", "list the pulled images"}},
      {"image inspect", {"IMAGE", "print an image's record and rootfs path"}},
      {"image rm", {"IMAGE...", "remove pulled images"}},
      {"image fetch", {"REF", "download an image's blobs into the verified cache"}},
      {"image verify", {"REF", "check REF against the signature policy without pulling it"}},
      {"image catalog", {"", "list the image catalog (names pulled from pre-built bundles)"}},
      {"image bundle", {"IMAGE --out FILE", "write a pulled image as a catalog bundle and print its entry"}},
      {"image cache prune", {"[--dry-run]", "remove cached blobs no running pull uses"}},
      {"system status", {"", "show the config, the install, the kernel's sandbox support and each helper's confinement"}},
      {"system install", {"[--prefix DIR]...", "install banger, bangerd, the helpers, their user, dirs and config (root)"}},
      {"system uninstall", {"[--purge]", "remove what system install made (images kept unless --purge)"}},
      {"system audit verify", {"[FILE...]", "check the audit log's hash chain; exit 1 naming the first broken link"}},
      {"completion", {"bash", "print the bash completion script"}},
  };
  return summaries;
}

// Flags whose value is a path: the completion offers files after them.
const std::set<std::string>& PathFlags() {
  static const std::set<std::string> flags = {"--out",        "--signature-policy", "--catalog",   "--prefix",
                                              "--config-dir", "--state-dir",        "--cache-dir", "--init-root"};
  return flags;
}

constexpr const char* kAbout =
    "banger turns container images into bootable ext4 root filesystems for microVMs,\n"
    "through a privilege-separated, sandboxed pipeline.\n";

constexpr const char* kImageArgument =
    "IMAGE is an image's name, its ID or a unique prefix of it, or the reference it was\n"
    "pulled from; an admin reaches a tenant's image as OWNER/NAME.\n";

constexpr const char* kEnvironment =
    "configuration: /etc/banger/config, or the file $BANGER_CONFIG names (docs/install.md);\n"
    "$BANGER_STATE_DIR and $BANGER_CACHE_DIR override its state_dir and cache_dir.\n"
    "When bangerd's socket (the config's socket) is there, or $BANGER_HOST names one\n"
    "(unix:///path), every command but system install, uninstall, audit verify and\n"
    "completion runs in the daemon, for the user the kernel says is asking\n"
    "(docs/multi-tenant.md).\n";

constexpr const char* kExitStatus =
    "exit status: 0 ok, 1 error, 2 usage, 3 sandbox violation or crashed helper,\n"
    "             130/143 stopped by SIGINT/SIGTERM (nothing is published)\n";

// "image cache prune" -> {"image", "image cache"}: the groups a command is in.
std::vector<std::string> GroupsOf(const std::string& name) {
  std::vector<std::string> groups;
  for (size_t space = name.find(' '); space != std::string::npos; space = name.find(' ', space + 1)) {
    groups.push_back(name.substr(0, space));
  }
  return groups;
}

// "  image pull REF    pull an image ...", the summary wrapped under a long left column.
void ListCommand(std::ostringstream& out, const std::string& shown, const CommandSummary& s) {
  const std::string left = "  " + shown + (s.synopsis.empty() ? "" : " " + s.synopsis);
  constexpr size_t kColumn = 26;
  if (left.size() + 1 < kColumn) {
    out << left << std::string(kColumn - left.size(), ' ') << s.summary << "\n";
  } else {
    out << left << "\n" << std::string(kColumn, ' ') << s.summary << "\n";
  }
}

CommandSummary Summary(const Command& command) {
  return SummaryOf(command.spec.name).value_or(CommandSummary{"", ""});
}

std::string RoffEscaped(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-') {
      out += "\\-";
    } else {
      out += c;
    }
  }
  return out;
}

// A usage text as a man page keeps it: one literal block, every line protected from
// being read as a request.
std::string RoffLiteral(const std::string& text) {
  std::string out = ".nf\n";
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) out += "\\&" + RoffEscaped(line) + "\n";
  return out + ".fi\n";
}

}  // namespace

std::optional<CommandSummary> SummaryOf(const std::string& command_name) {
  const auto found = Summaries().find(command_name);
  if (found == Summaries().end()) return std::nullopt;
  return found->second;
}

std::string GlobalUsage() {
  std::ostringstream out;
  out << "usage: banger [--version] [--help] <command> [<args>]\n\n" << kAbout << "\ncommands:\n";
  for (const Command* command : AllCommands()) ListCommand(out, command->spec.name, Summary(*command));
  ListCommand(out, "help", {"[COMMAND]", "print this, or a command's or a group's help"});
  out << "\n" << kImageArgument << "Run 'banger COMMAND --help' for a command's flags.\n\n" << kEnvironment << "\n"
      << kExitStatus;
  return out.str();
}

bool IsCommandGroup(const std::string& words) {
  for (const Command* command : AllCommands()) {
    for (const std::string& group : GroupsOf(command->spec.name)) {
      if (group == words) return true;
    }
  }
  return false;
}

std::string GroupUsage(const std::string& group) {
  std::ostringstream out;
  out << "usage: banger " << group << " COMMAND [<args>]\n\ncommands:\n";
  for (const Command* command : AllCommands()) {
    if (command->spec.name.rfind(group + " ", 0) == 0) {
      ListCommand(out, command->spec.name.substr(group.size() + 1), Summary(*command));
    }
  }
  if (group == "image") out << "\n" << kImageArgument;
  out << "\nRun 'banger " << group << " COMMAND --help' for a command's flags.\n";
  return out.str();
}

std::string BashCompletion() {
  // What may follow each command path typed so far: the next words of a group, or a
  // command's flags. The root is "banger" (bash refuses an empty associative key).
  std::map<std::string, std::set<std::string>> next;
  std::set<std::string> path_flags, value_flags;
  next["banger"] = {"help", "--help", "--version"};
  for (const Command* command : AllCommands()) {
    std::string path = "banger";
    std::istringstream words(command->spec.name);
    for (std::string word; words >> word; path += " " + word) next[path].insert(word);
    std::set<std::string>& flags = next[path];
    flags.insert("--help");
    for (const std::string& flag : command->spec.flags.booleans) flags.insert(flag);
    for (const std::string& flag : command->spec.flags.with_value) {
      flags.insert(flag);
      (PathFlags().count(flag) != 0 ? path_flags : value_flags).insert(flag);
    }
  }
  next["banger completion"].insert("bash");
  next["banger help"] = next["banger"];
  next["banger help"].erase("--help");
  next["banger help"].erase("--version");
  const auto joined = [](const std::set<std::string>& words) {
    std::string out;
    for (const std::string& word : words) out += (out.empty() ? "" : " ") + word;
    return out;
  };
  std::ostringstream out;
  out << "# bash completion for banger " << BANGER_VERSION << ", written by 'banger completion bash'\n"
      << "# from the command table banger parses its arguments with.\n"
      << "declare -A _banger_next=(\n";
  for (const auto& [path, words] : next) out << "  [\"" << path << "\"]=\"" << joined(words) << "\"\n";
  out << ")\n"
      << "_banger_path_flags=\" " << joined(path_flags) << " \"\n"
      << "_banger_value_flags=\" " << joined(value_flags) << " \"\n"
      << "_banger() {\n"
      << "  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} path=banger i\n"
      << "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
      << "    if [[ -v _banger_next[\"$path ${COMP_WORDS[i]}\"] ]]; then path=\"$path ${COMP_WORDS[i]}\"; fi\n"
      << "  done\n"
      << "  if [[ $_banger_path_flags == *\" $prev \"* ]]; then\n"
      << "    mapfile -t COMPREPLY < <(compgen -f -- \"$cur\")\n"
      << "  elif [[ $_banger_value_flags == *\" $prev \"* ]]; then\n"
      << "    COMPREPLY=()\n"
      << "  else\n"
      << "    mapfile -t COMPREPLY < <(compgen -W \"${_banger_next[$path]}\" -- \"$cur\")\n"
      << "  fi\n"
      << "}\n"
      << "complete -F _banger banger\n";
  return out.str();
}

std::string ManPage() {
  std::ostringstream out;
  out << ".TH BANGER 1 \"\" \"banger " << BANGER_VERSION << "\" \"User Commands\"\n"
      << ".SH NAME\nbanger \\- turn container images into bootable ext4 root filesystems for microVMs\n"
      << ".SH SYNOPSIS\n.B banger\n[\\fB\\-\\-version\\fR] [\\fB\\-\\-help\\fR] \\fIcommand\\fR [\\fIargs\\fR]\n"
      << ".SH DESCRIPTION\n" << RoffEscaped(kAbout) << ".PP\n" << RoffEscaped(kImageArgument)
      << ".SH COMMANDS\n";
  for (const Command* command : AllCommands()) {
    const CommandSummary s = Summary(*command);
    out << ".SS \"banger " << RoffEscaped(command->spec.name) << (s.synopsis.empty() ? "" : " " + RoffEscaped(s.synopsis))
        << "\"\n" << RoffEscaped(s.summary) << ".\n.PP\n" << RoffLiteral(command->spec.usage);
  }
  out << ".SH ENVIRONMENT\n" << RoffLiteral(kEnvironment) << ".SH EXIT STATUS\n" << RoffLiteral(kExitStatus)
      << ".SH FILES\n.TP\n/etc/banger/config\nthe configuration (docs/install.md)\n"
      << ".TP\n/etc/banger/policy.json\nthe signature policy (docs/signatures.md)\n"
      << ".SH SEE ALSO\n.BR containers-policy.json (5),\n.BR e2fsck (8)\n";
  return out.str();
}

namespace {

constexpr const char* kCompletionUsage =
    "usage: banger completion bash\n"
    "\n"
    "Prints a bash completion script for banger's commands and flags. Load it with\n"
    "  source <(banger completion bash)\n"
    "or let `banger system install` put it in PREFIX/share/bash-completion/completions/.\n";

int Completion(const CliContext&, const ParsedFlags& flags, std::ostream& out, std::ostream& err) {
  if (flags.positional[0] != "bash") {
    err << "banger: error: completion is written for bash only, not '" << flags.positional[0] << "'\n"
        << "Run 'banger completion --help' for usage.\n";
    return kExitUsage;
  }
  out << BashCompletion();
  return kExitOk;
}

}  // namespace

const Command& CompletionCommand() {
  static const Command command{{"completion", kCompletionUsage, {}, {1, 1, "takes the shell's name (bash)"}},
                               /*reads_config=*/false, Completion};
  return command;
}

}  // namespace banger::broker
