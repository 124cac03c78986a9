// bangerd's accept loop (docs/multi-tenant.md, "The daemon"): one process per client
// (session.h), at most `max_requests` at once and `tenant_max_requests` per uid; the
// rest wait their turn in order. A client that vanishes or a request whose helper died
// ends its own process only; the loop keeps serving until SIGTERM or SIGINT, then stops
// the requests in progress (nothing is published) and waits for them.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "base/fd.h"
#include "base/result.h"
#include "broker/host/config.h"

namespace banger::broker {

struct ServerLimits {
  uint64_t max_requests = 16;
  uint64_t tenant_max_requests = 4;
  // The config as the loop last read it: a peer the policy does not admit is refused at
  // once, without a slot (each request's own process checks again with the config then).
  Config config;
};

struct ServerSettings {
  std::string config_path;
  // The limits and policy now: read at the start and again at each SIGHUP.
  std::function<Result<ServerLimits>()> load_limits;
  // One line for the daemon's log (stderr: the journal under systemd).
  std::function<void(const std::string&)> log;
};

// Blocks the signals the loop reads (SIGCHLD, SIGTERM, SIGINT, SIGHUP) in the calling
// thread. bangerd calls it before its socket can be reached: a SIGHUP sent the moment a
// client can connect is then a reload waiting in the signalfd, not the default action
// that ends the process.
Result<void> BlockLoopSignals();

// Serves until SIGTERM or SIGINT; blocks the loop's signals itself if they are not yet.
Result<void> Serve(UniqueFd listener, const ServerSettings& settings);

}  // namespace banger::broker
