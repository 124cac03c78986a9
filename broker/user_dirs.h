// Where banger keeps things for the calling user: the cache (blobs) and the state
// (images). Root gets the system paths; others the XDG ones; an environment variable
// overrides either.
#pragma once

#include <string>

namespace banger::broker {

// $BANGER_CACHE_DIR, else /var/cache/banger as root, else $XDG_CACHE_HOME/banger or ~/.cache/banger.
std::string DefaultCacheRoot();
// $BANGER_STATE_DIR, else /var/lib/banger as root, else $XDG_STATE_HOME/banger or
// ~/.local/state/banger.
std::string DefaultStateRoot();

}  // namespace banger::broker
