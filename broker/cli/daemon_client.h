// The command line as bangerd's client (docs/multi-tenant.md, "The daemon"): when a daemon
// is configured and there, a command goes to it whole, and the client prints what the
// daemon's run of it prints and exits with its status; Ctrl-C cancels it in the daemon.
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "broker/host/config.h"
#include "broker/host/environment.h"
#include "ipc/daemon_protocol.h"

namespace banger::broker {

// The daemon's socket this command should go through: $BANGER_HOST ("unix:///path";
// anything else is an error), else the config's socket when a socket is at that path;
// nullopt: run the command in this process.
Result<std::optional<std::string>> DaemonSocketFor(const HostEnvironment& env, const Config& config);

// What a request carries besides its arguments: the caller's own credentials for the
// registry it names, and the path of a file it writes (image bundle --out), which the
// client creates, passes as an fd, and publishes (rename) once the request succeeded.
// Without `replace_out` an existing out_file is an error before the request is sent, and
// is never replaced.
struct ClientRequestExtras {
  std::optional<ipc::ForwardedCredentials> credentials;
  std::string out_file;
  bool replace_out = false;
};

// Sends `args` to bangerd at `socket` and relays its answer (what it sends for stderr to
// `relayed_err`); the request's exit status. The client's own errors go to `err`.
int RunThroughDaemon(const std::string& socket, const std::vector<std::string>& args, const HostEnvironment& env,
                     ClientRequestExtras extras, std::ostream& out, std::ostream& err, std::ostream& relayed_err);

}  // namespace banger::broker
