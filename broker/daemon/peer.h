// Who is on the other end of a unix socket, as the kernel says (SO_PEERCRED, and
// SO_PEERGROUPS for the supplementary groups): bangerd's only source of identity.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "base/result.h"

namespace banger::broker {

struct PeerCredentials {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
  std::vector<gid_t> groups;  // supplementary, as the peer had them when it connected
  std::string command;        // PeerCommandLine(pid), read when it connected
};

// The credentials the peer of `socket` had when it connected.
Result<PeerCredentials> ReadPeerCredentials(int socket);

// The peer's command line from /proc, NULs as spaces, at most 1024 bytes, "" when it is
// gone. It is what the process says of itself (for the audit log, never for a decision).
std::string PeerCommandLine(pid_t pid);

}  // namespace banger::broker
