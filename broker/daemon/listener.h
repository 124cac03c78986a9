// bangerd's listening socket (SOCK_SEQPACKET, the frames of ipc/frame.h): the one the
// service manager passed (socket activation), or one bound at the config's path.
#pragma once

#include <optional>
#include <string>

#include "base/fd.h"
#include "base/result.h"

namespace banger::broker {

// The socket of systemd's socket activation protocol ($LISTEN_PID is this process,
// $LISTEN_FDS is 1: fd 3), checked to be a listening SOCK_SEQPACKET unix socket; nullopt
// when none was passed.
Result<std::optional<UniqueFd>> InheritedListener(const std::string& listen_pid, const std::string& listen_fds);

// Binds and listens at `path`: its directory made (0755) when missing, a stale socket
// replaced (never a live one, nor any other kind of file), mode 0660 with group `group`
// (root's when empty).
Result<UniqueFd> BindListener(const std::string& path, const std::string& group);

}  // namespace banger::broker
