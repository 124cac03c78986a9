// A uid of its own for each pull's helpers (docs/sandbox.md, "Which identity"). The
// config's `helper_uids` names a range reserved for banger, as /etc/subuid reserves one
// per user; when root's banger pulls, it claims the first uid of the range no other pull
// holds (an flock on <cache>/helper-uids/<uid>) and keeps it until the pull ends, so
// helpers of concurrent pulls never share a uid.
#pragma once

#include <sys/types.h>

#include <string>

#include "base/fd.h"
#include "base/result.h"

namespace banger::broker {

struct HelperUidRange {
  uid_t first = 0;
  uid_t last = 0;
  bool operator==(const HelperUidRange&) const = default;
};

inline constexpr uint64_t kMaxHelperUids = 65536;

// "FIRST-LAST", both inclusive: no uid 0, no 65534 (nobody), no -1, at most kMaxHelperUids.
Result<HelperUidRange> ParseHelperUidRange(const std::string& text);
std::string FormatHelperUidRange(const HelperUidRange& range);

// One uid, held while this lives (its lock file's flock).
class HelperUidClaim {
 public:
  uid_t uid() const { return uid_; }

 private:
  friend Result<HelperUidClaim> ClaimHelperUid(const std::string& lock_dir, const HelperUidRange& range);
  HelperUidClaim(UniqueFd lock, uid_t uid) : lock_(std::move(lock)), uid_(uid) {}
  UniqueFd lock_;
  uid_t uid_;
};

// The first uid of `range` whose lock file in `lock_dir` (made 0700 if missing) no other
// pull holds; an error naming the range when every one is held.
Result<HelperUidClaim> ClaimHelperUid(const std::string& lock_dir, const HelperUidRange& range);

}  // namespace banger::broker
