// Network bootstrap mode: apply banger.* kernel parameters over rtnetlink and write
// resolv.conf and the hostname (docs/guest.md, "Network bootstrap").
#pragma once

#include <string>
#include <vector>

namespace banger::agent {

// `args` are the arguments after the program name (and after a "network" subcommand).
// Returns the process exit status.
int RunNetworkBootstrap(const std::vector<std::string>& args);

}  // namespace banger::agent
