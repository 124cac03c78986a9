// One seccomp allowlist per process kind, written as data. The default action is
// SCMP_ACT_KILL_PROCESS. Syscalls a compromised child would reach for first (open,
// socket, execve, ptrace, ...) trap instead, so the child can name the syscall on
// stderr before it is killed the same way; the broker turns that into
// "sandbox violation: <syscall>".
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "security/sandbox_spec.h"

namespace banger::security {

enum class Verdict {
  kAllow,
  kErrno,   // fail with `errno_value` so libc falls back (clone3, statx) or a probe fails quietly
  kReport,  // SIGSYS handler reports the syscall, then the process is killed by SIGSYS
};

struct ArgCondition {
  unsigned arg;         // 0..5
  enum Op { kEqual, kNotEqual, kMaskedEqual } op;
  uint64_t value;
  uint64_t mask = 0;    // for kMaskedEqual: (arg & mask) == value
};

struct SyscallRule {
  std::string_view name;
  Verdict verdict = Verdict::kAllow;
  int errno_value = 0;
  std::vector<ArgCondition> conditions;  // all must hold for the rule to apply
};

std::vector<SyscallRule> PolicyFor(ProcessKind kind);

// The filter of `kind`, built but not loaded: what InstallSeccompPolicy loads, readable
// with libseccomp (its default action, its rules) by a test.
using SeccompFilter = std::unique_ptr<void, void (*)(void*)>;
Result<SeccompFilter> BuildSeccompFilter(ProcessKind kind);

// Installs the SIGSYS reporter and loads the filter into the calling process (all
// threads). Irreversible: never call it in a process that must go on unconfined.
Result<void> InstallSeccompPolicy(ProcessKind kind);

// The line the SIGSYS reporter writes to stderr, and its parser for the broker.
inline constexpr std::string_view kViolationMarker = "banger-sandbox: violation syscall=";
std::optional<std::string> FindViolationSyscall(std::string_view child_stderr);

// Name of a syscall number on this architecture ("openat"), or "syscall <n>".
std::string SyscallName(long number);

}  // namespace banger::security
