// Reads what the kernel says about a child (/proc/<pid>/status), so the broker trusts
// the kernel rather than the child's word that it is locked down (invariant I4).
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"

namespace banger::security {

struct ProcStatus {
  bool no_new_privs = false;
  int seccomp_mode = 0;  // 2 = filter
  uint64_t cap_inh = 0, cap_prm = 0, cap_eff = 0, cap_bnd = 0, cap_amb = 0;
  std::array<uid_t, 4> uids{};  // real, effective, saved, filesystem
  std::array<gid_t, 4> gids{};
  uint64_t peak_rss_kib = 0;  // VmHWM, when the process still has its memory
};

Result<ProcStatus> ParseProcStatus(std::string_view text);
Result<ProcStatus> ReadProcStatus(pid_t pid);

// kSandbox error naming every field that is not as a locked-down child's must be.
Result<void> VerifyConfined(const ProcStatus& status, const std::string& who);

}  // namespace banger::security
