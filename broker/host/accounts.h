// The host's user and group database, read with the reentrant calls (bangerd serves
// requests in forked children; nothing here keeps state).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace banger::broker {

// A user or group name the daemon's policy accepts: [A-Za-z0-9._-], not starting with
// '-', at most 32.
bool IsValidAccountName(const std::string& name);

// The name of `uid`, "" when the database has none.
std::string UserName(uid_t uid);
// The uid of user `name`, nullopt when there is no such user.
std::optional<uid_t> UserId(const std::string& name);
// The gid of group `name`, nullopt when there is no such group.
std::optional<gid_t> GroupId(const std::string& name);

}  // namespace banger::broker
