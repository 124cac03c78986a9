#include "broker/host/helper_uids.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/file.h>

#include <charconv>

#include "broker/store/files.h"

namespace banger::broker {
namespace {

bool ParseUid(std::string_view text, uid_t* out) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty() || value >= 0xffffffffull) return false;
  *out = static_cast<uid_t>(value);
  return true;
}

}  // namespace

Result<HelperUidRange> ParseHelperUidRange(const std::string& text) {
  const Error wrong{ErrorCode::kInvalidArgument,
                    "helper_uids wants a range FIRST-LAST of at most " + std::to_string(kMaxHelperUids) +
                        " uids reserved for banger, without 0 and 65534, not '" + text + "'"};
  const size_t dash = text.find('-');
  if (dash == std::string::npos) return wrong;
  HelperUidRange range;
  if (!ParseUid(std::string_view(text).substr(0, dash), &range.first) ||
      !ParseUid(std::string_view(text).substr(dash + 1), &range.last)) {
    return wrong;
  }
  if (range.first == 0 || range.first > range.last || uint64_t{range.last} - range.first >= kMaxHelperUids ||
      (range.first <= 65534 && 65534 <= range.last)) {
    return wrong;
  }
  return range;
}

std::string FormatHelperUidRange(const HelperUidRange& range) {
  return std::to_string(range.first) + "-" + std::to_string(range.last);
}

Result<HelperUidClaim> ClaimHelperUid(const std::string& lock_dir, const HelperUidRange& range) {
  BANGER_TRY(MakePrivateDirs(lock_dir));
  UniqueFd dir(::open(lock_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir) return Error::FromErrno("open " + lock_dir);
  for (uint64_t uid = range.first; uid <= range.last; ++uid) {
    // A uid or gid that names a user or group has files and rights of its own somewhere.
    if (::getpwuid(static_cast<uid_t>(uid)) != nullptr || ::getgrgid(static_cast<gid_t>(uid)) != nullptr) continue;
    const std::string name = std::to_string(uid);
    UniqueFd lock(::openat(dir.get(), name.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!lock) return Error::FromErrno("open " + lock_dir + "/" + name);
    if (::flock(lock.get(), LOCK_EX | LOCK_NB) == 0) return HelperUidClaim(std::move(lock), static_cast<uid_t>(uid));
    if (errno != EWOULDBLOCK) return Error::FromErrno("flock " + lock_dir + "/" + name);
  }
  return Error{ErrorCode::kSandbox, "every uid in helper_uids (" + FormatHelperUidRange(range) +
                                            ") is held by another pull or names a user or group; widen the range in "
                                            "the config"};
}

}  // namespace banger::broker
