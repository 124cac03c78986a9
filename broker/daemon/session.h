// One client of bangerd, served in a process of its own (server.h forks it): read the
// request, admit the peer or refuse it (tenant_policy.h), run the command in a child
// process of its own whose stdout and stderr come back to the client as frames, and pass
// a cancel or a vanished client on as SIGINT (docs/multi-tenant.md, "The daemon").
#pragma once

#include <cstdint>
#include <string>

#include "base/fd.h"
#include "broker/daemon/peer.h"

namespace banger::broker {

// Serves the client on `connection` to its end; `stop_fd` is readable when the daemon
// is told to stop (then the request is stopped as SIGTERM stops a pull).
// `requests_last_minute` counts this uid's requests the daemon started in the last 60 s,
// this one included (a tenant over its tenant_requests_per_minute is refused).
void ServeClient(UniqueFd connection, const PeerCredentials& peer, const std::string& config_path, int stop_fd,
                 uint64_t requests_last_minute);

}  // namespace banger::broker
