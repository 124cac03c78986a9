// Real users and groups for tests that need several people (bangerd's tenants): made
// with groupadd/useradd under names unique to this process, removed when the object goes.
// Only the names a test asks for exist; each user also has its own group (Debian's
// user-private groups).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "tests/support/test_support.h"

namespace banger::testing {

class TestAccounts {
 public:
  TestAccounts();
  ~TestAccounts();
  TestAccounts(const TestAccounts&) = delete;
  TestAccounts& operator=(const TestAccounts&) = delete;

  // A new group; its full name. "" (and a test failure) when groupadd fails.
  std::string Group(const std::string& short_name);
  // The full name Group(short_name) made (or would make).
  std::string GroupName(const std::string& short_name) const { return prefix_ + "-" + short_name; }
  // A new user, member of `groups` (full names); its full name.
  std::string User(const std::string& short_name, const std::vector<std::string>& groups = {});
  // The user's uid (-1 when there is no such user).
  static uid_t Uid(const std::string& user);

  // `command` (for /bin/sh) run as `user` with its groups, in a clean environment plus `env`.
  static std::string As(const std::string& user, const std::string& command, const std::string& env = "");

 private:
  std::string prefix_;
  std::vector<std::string> users_, groups_;
};

}  // namespace banger::testing
