// Where banger keeps things for the calling user: the cache (blobs) and the state
// (images). Root gets the system paths (or the config's state_dir/cache_dir); others
// the XDG ones; an environment variable overrides either.
#pragma once

#include <string>

namespace banger::broker {

// $BANGER_CACHE_DIR, else (as root) the configured cache dir or /var/cache/banger, else
// $XDG_CACHE_HOME/banger or ~/.cache/banger.
std::string DefaultCacheRoot();
// $BANGER_STATE_DIR, else (as root) the configured state dir or /var/lib/banger, else
// $XDG_STATE_HOME/banger or ~/.local/state/banger.
std::string DefaultStateRoot();

// The config's state_dir and cache_dir (empty: not set); see config.h ApplyConfig.
void SetConfiguredRoots(std::string state_root, std::string cache_root);

}  // namespace banger::broker
