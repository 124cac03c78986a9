// Who is on the other end of a unix socket, as the kernel says (SO_PEERCRED, and
// SO_PEERGROUPS for the supplementary groups): bangerd's only source of identity.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace banger::broker {

struct PeerCredentials {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
  std::vector<gid_t> groups;  // supplementary, as the peer had them when it connected
  std::string name;           // the kernel's name of the process (/proc/PID/comm), at accept

  // The primary group and the supplementary ones.
  std::vector<uint32_t> AllGroups() const {
    std::vector<uint32_t> gids(groups.begin(), groups.end());
    gids.push_back(gid);
    return gids;
  }
};

// The credentials the peer of `socket` had when it connected.
Result<PeerCredentials> ReadPeerCredentials(int socket);

// The peer's command line from /proc, NULs as spaces, at most 1024 bytes, "" when it is
// gone. It is what the process says of itself, and its pid may be another's by then (for
// the audit log, never for a decision). Reading it may wait on the peer's own memory (a
// FUSE mapping), so only a client's own process reads it, never the accept loop.
std::string PeerCommandLine(pid_t pid);

}  // namespace banger::broker
