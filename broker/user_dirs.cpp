#include "broker/user_dirs.h"

#include <unistd.h>

#include <cstdlib>

namespace banger::broker {
namespace {

std::string UserDir(const char* override_variable, const char* system_path, const char* xdg_variable,
                    const char* home_relative) {
  if (const char* dir = std::getenv(override_variable); dir != nullptr && *dir == '/') return dir;
  if (::geteuid() == 0) return system_path;
  if (const char* xdg = std::getenv(xdg_variable); xdg != nullptr && *xdg == '/') return std::string(xdg) + "/banger";
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr ? home : "/tmp") + "/" + home_relative + "/banger";
}

}  // namespace

std::string DefaultCacheRoot() { return UserDir("BANGER_CACHE_DIR", "/var/cache/banger", "XDG_CACHE_HOME", ".cache"); }

std::string DefaultStateRoot() {
  return UserDir("BANGER_STATE_DIR", "/var/lib/banger", "XDG_STATE_HOME", ".local/state");
}

}  // namespace banger::broker
