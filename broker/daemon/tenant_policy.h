// Who may ask bangerd for what (docs/multi-tenant.md, "Policy"): the config's allow_users,
// allow_groups and admin_group applied to the credentials the kernel gave for a peer.
// Root and members of admin_group are admins (everything root's CLI may do); users the
// allow lists admit are tenants; everyone else is refused, by name.
#pragma once

#include <string>

#include "broker/cli/context.h"
#include "broker/daemon/peer.h"
#include "broker/host/config.h"

namespace banger::broker {

struct Admission {
  bool allowed = false;
  bool admin = false;
  std::string reason;  // why not, for the client and the audit log
};

// `user` is the peer's user name ("" when its uid has none).
Admission Admit(const Config& config, const PeerCredentials& peer, const std::string& user);

// The requester a command runs for: the peer as the kernel named it, `command` for the
// audit log (see PeerCommandLine), not yet an admin.
Requester RequesterOf(const PeerCredentials& peer, std::string command);

}  // namespace banger::broker
