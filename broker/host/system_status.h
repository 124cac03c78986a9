// `banger system status`'s findings: the config in use, whether and where banger is
// installed, where images and blobs go, what the kernel offers the sandbox (seccomp,
// user namespaces), the helpers' user, and, for each helper, what /proc says about it
// once it is started, locked down and checked on this kernel. The command line prints it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "broker/host/config.h"
#include "broker/host/helpers.h"
#include "broker/host/install_manifest.h"
#include "security/proc_status.h"
#include "security/sandbox_spec.h"

namespace banger::broker {

struct KernelSupport {
  bool seccomp = false;
  bool user_namespaces = false;
  std::string max_user_namespaces;        // "" when absent
  std::string unprivileged_userns_clone;  // "" when absent (a Debian knob)
};

struct HelperConfinement {
  security::ProcessKind kind;
  Result<security::ProcStatus> status{Error{ErrorCode::kNotFound, "not checked"}};
  bool network = false;        // the spec leaves it the host's network
  bool readonly_binds = false;  // the spec shows host files read-only
};

struct SystemStatus {
  std::string config_dir;
  Result<std::optional<InstallManifest>> install{std::optional<InstallManifest>()};
  std::string banger;  // this executable, when /proc says
  KernelSupport kernel;
  bool root = false;
  security::SandboxIdentity helper_user{65534, 65534, "nobody"};
  std::vector<HelperConfinement> helpers;
  bool AllConfined() const;
};

// `config_path` is the config file in use; `launcher` starts the helpers as a pull would.
SystemStatus CheckSystem(const std::string& config_path, const Config& config, const HelperLauncher& launcher);

}  // namespace banger::broker
