// What `banger system install` made, recorded in CONFIG_DIR/installed.json so that
// `system uninstall` removes exactly that, plus the small root-only file operations
// both need (atomic installs, directories with a fixed owner and mode, the system user).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/result.h"

namespace banger::broker {

struct InstallManifest {
  std::string prefix;                     // "/usr/local"
  std::string config_dir;                 // "/etc/banger"
  std::vector<std::string> files;         // binaries and helpers install wrote
  std::vector<std::string> created_dirs;  // directories install created, parents first
  bool config_created = false;            // CONFIG_DIR/config was written by install
  std::string user;                       // the helpers' user
  bool user_created = false;              // false: it existed before install
  bool group_created = false;             // the user's group came with it (useradd --user-group)
  std::string state_dir;
  std::string cache_dir;
  // bangerd's service files (service_files.h): under init_root's etc/systemd/system and
  // etc/init.d, and whether install enabled the socket in a running systemd.
  std::string init_root = "/";
  std::vector<std::string> service_files;
  bool service_enabled = false;

  std::string config_file() const { return config_dir + "/config"; }
  std::string path() const { return config_dir + "/installed.json"; }
  std::string systemd_dir() const { return (init_root == "/" ? "" : init_root) + "/etc/systemd/system"; }
  std::string openrc_dir() const { return (init_root == "/" ? "" : init_root) + "/etc/init.d"; }
  bool Created(const std::string& dir) const;
};

nlohmann::json ManifestToJson(const InstallManifest& manifest);
// The manifest in `config_dir`, or nothing when there is none. When banger runs as root,
// a manifest that others than root could write is refused.
Result<std::optional<InstallManifest>> LoadManifest(const std::string& config_dir);
// The text ManifestToJson serialises to (what is compared to leave an unchanged file be).
std::string ManifestText(const InstallManifest& manifest);

// Installs a copy of `source` at `target` (root:root, `mode`) through a temporary file
// in the same directory and a rename. False (and nothing touched) when it is already so.
Result<bool> InstallCopy(const std::string& source, const std::string& target, mode_t mode);
// Same for a file with `content`.
Result<bool> InstallContent(const std::string& content, const std::string& target, mode_t mode);

// What EnsureDir did to one directory.
enum class DirChange { kUnchanged, kCreated, kFixed };
// Creates `path` and its missing parents (each recorded in `created`); the last one gets
// root:root and `mode` (fixed if it was otherwise). Parents are made 0755.
Result<DirChange> EnsureDir(const std::string& path, mode_t mode, std::vector<std::string>& created);

// Creates the system user `name` (no home, no login shell; its own group unless a group
// of that name exists). Returns whether a group was created along with it.
Result<bool> CreateSystemUser(const std::string& name);
// userdel NAME, then groupdel NAME when `remove_group` and the group is still there.
Result<void> DeleteSystemUser(const std::string& name, bool remove_group);

// A path that must never be removed recursively ("/", "/var", "/usr/local", ...).
bool IsProtectedPath(const std::string& path);

}  // namespace banger::broker
