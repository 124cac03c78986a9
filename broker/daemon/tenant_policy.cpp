#include "broker/daemon/tenant_policy.h"

#include <algorithm>

#include "broker/host/accounts.h"

namespace banger::broker {
namespace {

bool InGroup(const PeerCredentials& peer, const std::string& group) {
  const std::optional<gid_t> gid = GroupId(group);
  if (!gid) return false;  // a group the host does not have admits nobody
  return peer.gid == *gid || std::find(peer.groups.begin(), peer.groups.end(), *gid) != peer.groups.end();
}

}  // namespace

Admission Admit(const Config& config, const PeerCredentials& peer, const std::string& user) {
  if (peer.uid == 0) return {true, true, ""};
  if (!config.admin_group.empty() && InGroup(peer, config.admin_group)) return {true, true, ""};
  const bool listed = !user.empty() && std::find(config.allow_users.begin(), config.allow_users.end(), user) !=
                                           config.allow_users.end();
  const bool grouped = std::any_of(config.allow_groups.begin(), config.allow_groups.end(),
                                   [&](const std::string& group) { return InGroup(peer, group); });
  if (listed || grouped) return {true, false, ""};
  const std::string who = user.empty() ? "uid " + std::to_string(peer.uid) : "user '" + user + "' (uid " +
                                                                                  std::to_string(peer.uid) + ")";
  return {false, false,
          who + " may not use bangerd: neither allow_users nor allow_groups in " + config.path + " admits it"};
}

Requester RequesterOf(const PeerCredentials& peer, std::string command) {
  Requester requester;
  requester.uid = peer.uid;
  requester.gid = peer.gid;
  requester.gids = peer.AllGroups();
  requester.pid = peer.pid;
  requester.user = UserName(peer.uid);
  requester.command = std::move(command);
  requester.through_daemon = true;
  return requester;
}

}  // namespace banger::broker
