// What every command prints the same way: an error as one line
// `banger: error: <what> (<ref | digest | path>)` with its exit status.
#pragma once

#include <ostream>
#include <string>

#include "base/result.h"

namespace banger::broker {

// 1 for registry, input and user errors; 3 for a sandbox violation or a crashed helper;
// 128 + the signal when SIGINT or SIGTERM stopped banger.
int ExitStatusFor(const Error& error);

// A command-line mistake: the error line, where to read more ("Run 'banger COMMAND
// --help' for usage."), and exit status 2. An empty command points at `banger --help`.
int ReportUsage(std::ostream& err, const std::string& what, const std::string& command);

// What escaped the Result idiom (a library that threw): one line, exit status 1.
int ReportInternalError(std::ostream& err, const std::string& what);

// Prints the error line and returns ExitStatusFor(error). A stop says which signal.
int ReportError(std::ostream& err, const Error& error, const std::string& context);

}  // namespace banger::broker
