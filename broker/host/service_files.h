// The files that run bangerd under a service manager, as `system install` writes them
// (docs/multi-tenant.md, "Running the daemon"): a systemd socket and service unit
// (socket activation; the service hardened as far as the broker allows), and an OpenRC
// script. Their text depends on where banger is installed and on the config.
#pragma once

#include <string>

namespace banger::broker {

struct ServiceSettings {
  std::string bangerd;      // "/usr/local/bin/bangerd"
  std::string config_file;  // "/etc/banger/config"
  std::string socket;       // the config's socket
  std::string socket_group; // "" : root
  std::string state_dir, cache_dir, audit_dir;  // what the daemon writes
};

// The capabilities bangerd keeps (the unit's CapabilityBoundingSet): starting helpers
// takes namespaces (SYS_ADMIN), their uid and groups (SETUID, SETGID), their securebits
// (SETPCAP); stopping them KILL; the socket's group CHOWN. tests/e2e/daemon_test.cpp runs
// the daemon with exactly this bounding set.
inline constexpr const char* kDaemonCapabilities[] = {"CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID",
                                                       "CAP_SETPCAP",   "CAP_KILL",   "CAP_CHOWN"};

inline constexpr const char* kSocketUnitName = "banger.socket";
inline constexpr const char* kServiceUnitName = "banger.service";
inline constexpr const char* kOpenRcScriptName = "banger";

std::string SystemdSocketUnit(const ServiceSettings& settings);
std::string SystemdServiceUnit(const ServiceSettings& settings);
std::string OpenRcScript(const ServiceSettings& settings);

}  // namespace banger::broker
