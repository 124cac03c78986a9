#include "broker/user_dirs.h"

#include <unistd.h>

#include <cstdlib>
#include <utility>

namespace banger::broker {
namespace {

std::string& ConfiguredState() {
  static std::string dir;
  return dir;
}

std::string& ConfiguredCache() {
  static std::string dir;
  return dir;
}

// The config is the system's (/etc/banger/config), so its dirs replace root's defaults;
// other users keep their own XDG dirs, which they can write.
std::string UserDir(const char* override_variable, const std::string& configured, const char* system_path,
                    const char* xdg_variable, const char* home_relative) {
  if (const char* dir = std::getenv(override_variable); dir != nullptr && *dir == '/') return dir;
  if (::geteuid() == 0) return configured.empty() ? system_path : configured;
  if (const char* xdg = std::getenv(xdg_variable); xdg != nullptr && *xdg == '/') return std::string(xdg) + "/banger";
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : "/tmp") + "/" + home_relative + "/banger";
}

}  // namespace

std::string DefaultCacheRoot() {
  return UserDir("BANGER_CACHE_DIR", ConfiguredCache(), "/var/cache/banger", "XDG_CACHE_HOME", ".cache");
}

std::string DefaultStateRoot() {
  return UserDir("BANGER_STATE_DIR", ConfiguredState(), "/var/lib/banger", "XDG_STATE_HOME", ".local/state");
}

void SetConfiguredRoots(std::string state_root, std::string cache_root) {
  ConfiguredState() = std::move(state_root);
  ConfiguredCache() = std::move(cache_root);
}

}  // namespace banger::broker
