// Where banger keeps things for the calling user: the cache (blobs) and the state
// (images). Root gets the system paths (or the config's state_dir/cache_dir); others
// the XDG ones; $BANGER_STATE_DIR or $BANGER_CACHE_DIR (absolute) overrides either.
#pragma once

#include <string>

#include "broker/host/config.h"
#include "broker/host/environment.h"

namespace banger::broker {

// $BANGER_CACHE_DIR, else (as root) the configured cache dir or /var/cache/banger, else
// $XDG_CACHE_HOME/banger or ~/.cache/banger.
std::string CacheRoot(const HostEnvironment& env, const Config& config);
// $BANGER_STATE_DIR, else (as root) the configured state dir or /var/lib/banger, else
// $XDG_STATE_HOME/banger or ~/.local/state/banger.
std::string StateRoot(const HostEnvironment& env, const Config& config);

}  // namespace banger::broker
