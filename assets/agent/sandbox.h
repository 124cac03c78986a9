// The agent's self-confinement, applied once the listening socket and the /proc files
// are open (docs/guest.md, "Sandbox").
#pragma once

#include <string>

namespace banger::agent {

// The uid and gid the agent drops to when it starts as root (the kernel's overflow id,
// "nobody" on every distribution; no passwd lookup needed).
inline constexpr unsigned kUnprivilegedId = 65534;

// Drops root (when root) to kUnprivilegedId, sets no_new_privs and loads a seccomp
// allowlist (default: kill the process) of what the serving loop calls; accept4 only on
// `listen_fd`. Returns "" on success or what failed. `summary` says what was applied.
std::string LockDown(int listen_fd, std::string* summary);

}  // namespace banger::agent
