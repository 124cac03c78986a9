// One client of bangerd, served in a process of its own (server.h forks it): read the
// request, admit the peer or refuse it (tenant_policy.h), run the command in a child
// process of its own whose stdout and stderr come back to the client as frames, and pass
// a cancel or a vanished client on as SIGINT (docs/multi-tenant.md, "The daemon").
#pragma once

#include <cstdint>
#include <string>

#include "base/fd.h"
#include "broker/daemon/peer.h"
#include "ipc/channel.h"

namespace banger::broker {

// Ends a request the daemon does not run: one error line for the client's stderr, then
// the exit status. The client may be gone: nothing is reported.
void Answer(ipc::Channel& client, const std::string& error_line, int status);

// Serves the client on `connection` to its end; `stop_fd` is readable when the daemon
// is told to stop (then the request is stopped as SIGTERM stops a pull).
void ServeClient(UniqueFd connection, const PeerCredentials& peer, const std::string& config_path, int stop_fd);

}  // namespace banger::broker
