#include "tests/support/test_accounts.h"

#include <pwd.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace banger::testing {

TestAccounts::TestAccounts() : prefix_("bt" + std::to_string(::getpid() % 1000000)) {}

TestAccounts::~TestAccounts() {
  for (const std::string& user : users_) RunCommand("userdel " + user + " 2>&1");
  for (const std::string& group : groups_) RunCommand("groupdel " + group + " 2>&1");
}

std::string TestAccounts::Group(const std::string& short_name) {
  const std::string name = prefix_ + "-" + short_name;
  CommandResult made = RunCommand("groupadd --system " + name);
  EXPECT_EQ(made.exit_status, 0) << made.output;
  if (made.exit_status != 0) return "";
  groups_.push_back(name);
  return name;
}

std::string TestAccounts::User(const std::string& short_name, const std::vector<std::string>& groups) {
  const std::string name = prefix_ + "-" + short_name;
  std::string list;
  for (const std::string& group : groups) list += (list.empty() ? "" : ",") + group;
  CommandResult made = RunCommand("useradd --system --user-group --no-create-home --home-dir / --shell /usr/sbin/nologin " +
                                  (list.empty() ? "" : "--groups " + list + " ") + name);
  EXPECT_EQ(made.exit_status, 0) << made.output;
  if (made.exit_status != 0) return "";
  users_.push_back(name);
  // The user's own group goes with it (userdel removes it).
  return name;
}

uid_t TestAccounts::Uid(const std::string& user) {
  const passwd* entry = ::getpwnam(user.c_str());
  return entry != nullptr ? entry->pw_uid : static_cast<uid_t>(-1);
}

std::string TestAccounts::As(const std::string& user, const std::string& command, const std::string& env) {
  return "setpriv --reuid=" + user + " --regid=" + user + " --init-groups env -i PATH=/usr/bin:/bin HOME=/ " + env +
         " " + command;
}

}  // namespace banger::testing
