#include "broker/host/user_dirs.h"

namespace banger::broker {
namespace {

bool Absolute(const std::string& path) { return !path.empty() && path[0] == '/'; }

// The config is the system's (/etc/banger/config), so its dirs replace root's defaults;
// other users keep their own XDG dirs, which they can write.
std::string UserDir(const HostEnvironment& env, const std::string& override_dir, const std::string& configured,
                    const char* system_path, const std::string& xdg, const char* home_relative) {
  if (Absolute(override_dir)) return override_dir;
  if (env.root) return configured.empty() ? system_path : configured;
  if (Absolute(xdg)) return xdg + "/banger";
  return (env.home.empty() ? std::string("/tmp") : env.home) + "/" + home_relative + "/banger";
}

}  // namespace

std::string CacheRoot(const HostEnvironment& env, const Config& config) {
  return UserDir(env, env.cache_dir, config.cache_dir, "/var/cache/banger", env.xdg_cache_home, ".cache");
}

std::string StateRoot(const HostEnvironment& env, const Config& config) {
  return UserDir(env, env.state_dir, config.state_dir, "/var/lib/banger", env.xdg_state_home, ".local/state");
}

}  // namespace banger::broker
