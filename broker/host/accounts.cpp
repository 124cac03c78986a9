#include "broker/host/accounts.h"

#include <grp.h>
#include <pwd.h>

#include <algorithm>
#include <cctype>
#include <vector>

namespace banger::broker {
namespace {

constexpr size_t kEntryBuffer = 64 * 1024;  // a group with many members needs room

}  // namespace

bool IsValidAccountName(const std::string& name) {
  if (name.empty() || name.size() > 32 || name[0] == '-') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

std::string UserName(uid_t uid) {
  passwd entry{}, *found = nullptr;
  std::vector<char> buffer(kEntryBuffer);
  if (::getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) return "";
  return entry.pw_name;
}

std::optional<uid_t> UserId(const std::string& name) {
  passwd entry{}, *found = nullptr;
  std::vector<char> buffer(kEntryBuffer);
  if (::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  return entry.pw_uid;
}

std::optional<gid_t> GroupId(const std::string& name) {
  group entry{}, *found = nullptr;
  std::vector<char> buffer(kEntryBuffer);
  if (::getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  return entry.gr_gid;
}

}  // namespace banger::broker
