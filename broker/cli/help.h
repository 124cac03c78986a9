// What banger says about itself, all of it generated from the command table the parser
// uses (commands.h), so that --help, `banger help`, the bash completion and the man page
// can never name a command or a flag the parser does not take, nor miss one it does.
#pragma once

#include <optional>
#include <string>

#include "broker/cli/commands.h"

namespace banger::broker {

// One line of the command list: the command's arguments as --help shows them ("REF") and
// what it does. Every command in AllCommands() has one (tests/broker/cli checks).
struct CommandSummary {
  std::string synopsis;
  std::string summary;
};
std::optional<CommandSummary> SummaryOf(const std::string& command_name);

// `banger --help`: every command, the configuration, the exit statuses.
std::string GlobalUsage();

// The words that start commands without being one ("image", "image cache", "system",
// "system audit"): whether `words` is such a group, and its help (its commands).
bool IsCommandGroup(const std::string& words);
std::string GroupUsage(const std::string& group);

// `banger completion bash`: a bash completion script for every command, subcommand and
// flag, files offered after the flags that take a path.
std::string BashCompletion();

// `banger help --man`: banger(1) in man(7) roff.
std::string ManPage();

}  // namespace banger::broker
