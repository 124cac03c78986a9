// Where the broker finds its helper executables, and how it starts them. The helpers are
// beside banger (the build tree's bin/) or in ../libexec/banger (an installed tree),
// never found through the environment or PATH: the broker is privileged and must not be
// steered to another binary.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "broker/host/helper_uids.h"
#include "security/sandbox_spec.h"
#include "security/spawn.h"

namespace banger::broker {

// The running executable (/proc/self/exe) and its directory.
Result<std::string> SelfExecutable();
Result<std::string> SelfDirectory();

// The helper of `kind` for a banger whose executable is in `banger_dir`.
Result<std::string> LocateHelperFrom(const std::string& banger_dir, security::ProcessKind kind);

// Starts helpers in their sandboxes for one broker: from one directory, as one user,
// stopped by one fd. Copyable, so a pull's threads can each hold one.
class HelperLauncher {
 public:
  struct Settings {
    std::string banger_dir;      // where banger is; the helpers are found from there
    std::string sandbox_user;    // the config's `user` (root only; security::ResolveSandboxIdentity)
    // The pull's own uid from the config's helper_uids (root only), held while any copy
    // of these settings lives; when set, it replaces `sandbox_user`'s ids.
    std::shared_ptr<const HelperUidClaim> helper_uid;
    int stop_fd = -1;            // readable when the pull must stop (security::SpawnOptions)
    std::vector<std::string> fetcher_environment;  // proxy settings, for the fetcher only
  };
  explicit HelperLauncher(Settings settings) : settings_(std::move(settings)) {}

  Result<std::string> Locate(security::ProcessKind kind) const;
  // Started, locked down and checked from /proc (security::SandboxedChild::Spawn), with
  // `passed` at fds 4, 5, ... (the fetcher's network gate).
  Result<security::SandboxedChild> Start(security::ProcessKind kind, std::vector<UniqueFd> passed = {}) const;
  // What identifies the executable of `kind` as built: a rebuilt or reinstalled helper
  // differs (device, inode, size, mtime), whatever its version says.
  std::string Identity(security::ProcessKind kind) const;

  const Settings& settings() const { return settings_; }

 private:
  Settings settings_;
};

}  // namespace banger::broker
