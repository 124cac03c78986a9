// One line to the host's syslog, as logger(1) and glibc's syslog(3) send it: a datagram
// to an AF_UNIX socket (/dev/log), framed "<PRI>TIMESTAMP IDENT[PID]: MESSAGE" (RFC 3164).
// The audit trail sends each record's hash this way, so the chain has an anchor outside
// its file (docs/multi-tenant.md, "The audit log").
#pragma once

#include <string>

#include "base/result.h"

namespace banger::broker {

// Facility authpriv (10) at level info (6): where a host keeps what only root may read.
inline constexpr int kSyslogAuthprivInfo = 10 * 8 + 6;

// Sends `message` to the socket at `socket_path`; kNotFound when there is none.
Result<void> SendToSyslog(const std::string& socket_path, const std::string& ident, const std::string& message);

}  // namespace banger::broker
