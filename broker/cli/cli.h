// The banger command line: parses argv and runs one command.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace banger::broker {

struct Requester;

// Runs `args` (argv after "banger") in this process, or through bangerd when one is
// configured and there (daemon_client.h).
int RunCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// In bangerd: runs `args` for `requester` under the daemon's config, as a tenant unless
// the requester is an admin; `terminal` says whether the client's stdout is one (and
// `columns` its width).
// `client_file` is a file the client passed (image bundle --out), or -1.
int RunCliFor(const Requester& requester, const std::string& config_path, bool terminal, uint64_t columns, int client_file,
              const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace banger::broker
