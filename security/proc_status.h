// Reads what the kernel says about a child (/proc/<pid>/status), so the broker trusts
// the kernel rather than the child's word that it is locked down (invariant I4).
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace banger::security {

struct ProcStatus {
  bool no_new_privs = false;
  int seccomp_mode = 0;  // 2 = filter
  uint64_t cap_inh = 0, cap_prm = 0, cap_eff = 0, cap_bnd = 0, cap_amb = 0;
  std::array<uid_t, 4> uids{};  // real, effective, saved, filesystem
  std::array<gid_t, 4> gids{};
  std::vector<gid_t> groups;  // supplementary
  uint64_t peak_rss_kib = 0;  // VmHWM, when the process still has its memory
  // NSpid: the process's pid in each PID namespace from the reader's down to its own.
  std::vector<pid_t> namespace_pids;
  // PID 1 of a PID namespace below the reader's: it can name no process but itself.
  bool alone_in_pid_namespace() const { return namespace_pids.size() >= 2 && namespace_pids.back() == 1; }
};

Result<ProcStatus> ParseProcStatus(std::string_view text);
Result<ProcStatus> ReadProcStatus(pid_t pid);

// The RLIMIT_FSIZE a process runs with, soft and hard, as the kernel shows it
// (/proc/<pid>/limits, "Max file size"); "unlimited" is UINT64_MAX.
struct FileSizeLimits {
  uint64_t soft = 0;
  uint64_t hard = 0;
};
Result<FileSizeLimits> ParseFileSizeLimits(std::string_view limits_text);
Result<FileSizeLimits> ReadFileSizeLimits(pid_t pid);

// kSandbox error naming every field that is not as a locked-down child's must be.
Result<void> VerifyConfined(const ProcStatus& status, const std::string& who);

}  // namespace banger::security
