// The child side of the sandbox: applies a SandboxSpec to the calling process, in the
// order minijail uses (mounts, bounding set, groups, gid, uid, capabilities, ambient,
// no_new_privs, rlimits, seccomp last). Must run single-threaded.
#pragma once

#include "base/result.h"
#include "security/sandbox_spec.h"

namespace banger::security {

// Irreversible. On success the process has an empty read-only root (plus the spec's
// read-only binds), no capabilities in any set, a non-root uid (or a user namespace),
// its own network namespace where asked, the spec's rlimits, and the kind's seccomp
// filter loaded. The caller must be PID 1 of a PID namespace SandboxedChild::Spawn made
// (and, with use_user_namespace, in the user namespace it made and mapped).
Result<void> LockDown(const SandboxSpec& spec);

}  // namespace banger::security
