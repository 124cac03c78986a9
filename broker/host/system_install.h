// `banger system install` and `banger system uninstall` (docs/install.md): put this
// banger and its helpers under a prefix, create the helpers' system user, the state and
// cache dirs and the config, record all of it in CONFIG_DIR/installed.json, and remove
// exactly that again. The command line parses the flags and prints the report.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

namespace banger::broker {

// What the flags asked for; a value not given comes from an earlier install's
// installed.json, else from an existing CONFIG_DIR/config, else the default.
struct InstallRequest {
  std::string config_dir = "/etc/banger";
  std::optional<std::string> prefix, user, state_dir, cache_dir;
  // Where etc/systemd/system and etc/init.d are for bangerd's service files: "/", or
  // another root (a package's staging tree, a test's).
  std::optional<std::string> init_root;
  // How install reaches systemd: whether it runs the host (unset: /run/systemd/system
  // exists and init_root is "/"), and the program that enables the socket.
  std::optional<bool> systemd_running;
  std::string systemctl = "systemctl";
  // Files the command line writes from its command table, under PREFIX: the bash
  // completion and the man page (relative path, text).
  std::vector<std::pair<std::string, std::string>> documents;
};

// What install or uninstall did, a line each, in order; `changes` counts the lines that
// changed something, so a failed run can say how far it got.
struct SystemReport {
  std::vector<std::string> lines;
  int changes = 0;
  void Note(std::string line) { lines.push_back(std::move(line)); }
  void Changed(std::string line) {
    lines.push_back(std::move(line));
    ++changes;
  }
};

// Needs root. `banger_executable` is the banger to install (its helpers beside it).
Result<void> InstallSystem(const InstallRequest& request, const std::string& banger_executable, SystemReport& report);

// Every removal that failed, each with what it was removing; the record is kept then.
struct UninstallFailure {
  Error error;
  std::string path;
};
// `systemctl` stops and disables bangerd's units when install enabled them.
Result<std::vector<UninstallFailure>> UninstallSystem(const std::string& config_dir, bool purge, SystemReport& report,
                                                      const std::string& systemctl = "systemctl");

// A path flag's value as install takes it: trailing slashes dropped, and clean and absolute.
Result<std::string> CleanPathFlag(const std::string& flag, std::string path);

}  // namespace banger::broker
