// The command table: every command banger runs, as data (its name, usage, flags,
// arguments, whether it needs root or reads the config) with the function that runs it.
// cli.cpp dispatches through it and parses each command's flags before it runs.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "broker/cli/context.h"
#include "broker/cli/flags.h"

namespace banger::broker {

using Args = std::vector<std::string>;

struct Command {
  CommandSpec spec;
  // `reads_config`: false for install and uninstall, which must work when it is broken
  // (they get a context without it).
  bool reads_config = true;
  int (*run)(const CliContext& context, const ParsedFlags& flags, std::ostream& out, std::ostream& err);
  // Run as root, the command leaves its start and end in the audit log (audit_trail.h).
  bool audited = false;
};

// One each, defined beside the command's code.
const Command& ImagePullCommand();     // pull_command.cpp
const Command& ImageListCommand();     // image_commands.cpp
const Command& ImageInspectCommand();  // image_commands.cpp
const Command& ImageRemoveCommand();   // image_commands.cpp
const Command& ImageFetchCommand();    // fetch_command.cpp: blobs into the cache, no filesystem
const Command& ImageVerifyCommand();   // fetch_command.cpp: the signature policy's verdict, no blob
const Command& ImageCachePruneCommand();  // cache_commands.cpp
const Command& ImageCatalogCommand();  // catalog_commands.cpp
const Command& ImageBundleCommand();   // catalog_commands.cpp
const Command& SystemStatusCommand();     // system_commands.cpp: exit 3 when a helper is not confined
const Command& SystemInstallCommand();    // system_commands.cpp
const Command& SystemUninstallCommand();  // system_commands.cpp
const Command& SystemAuditVerifyCommand();  // audit_commands.cpp: exit 1 at a broken link
const Command& CompletionCommand();         // help.cpp: the bash completion script

// Every command, in the order --help lists them.
const std::vector<const Command*>& AllCommands();

}  // namespace banger::broker
