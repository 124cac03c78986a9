// As root, banger trusts a path it takes from the environment or a flag only when no one
// but root could have put anything there (sshd's StrictModes): root owns every existing
// directory on the way and the path itself, and none of them is group- or world-writable.
// A sticky ancestor (/tmp) is fine, as it is for mkdtemp: others may write there, but not
// replace what root made, and a path that does not exist yet must not be one that another
// user could make first (/tmp/name). Symlinks on the way are followed one hop at a time,
// each link and each directory on the way checked.
#pragma once

#include <string>

#include "base/result.h"
#include "broker/host/environment.h"

namespace banger::broker {

struct TrustedPathRule {
  // The path itself may be a sticky directory others write into (TMPDIR=/tmp): banger
  // only makes unguessable names there with O_EXCL.
  bool sticky_itself_is_fine = false;
};

// Ok when `path` (absolute; what does not exist yet banger makes itself) is trusted;
// else an error naming `named_by` ("BANGER_CACHE_DIR"), the path and its owner or mode.
Result<void> CheckTrustedPath(const std::string& path, const std::string& named_by, TrustedPathRule rule = {});

// For root: every path `env` names (state, cache, config, catalog file, docker config,
// TMPDIR) checked. For anyone else nothing: a user's own paths are theirs.
Result<void> CheckEnvironmentPaths(const HostEnvironment& env);

}  // namespace banger::broker
