// Agent mode: serve GET /healthz until killed (docs/guest.md).
#pragma once

#include <string>
#include <vector>

namespace banger::agent {

// `args` are the arguments after the program name (and after an "agent" subcommand).
// Returns the process exit status.
int RunAgent(const std::vector<std::string>& args);

}  // namespace banger::agent
