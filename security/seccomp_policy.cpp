#include "security/seccomp_policy.h"

#include "security/sanitizer.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <linux/netlink.h>
#include <linux/falloc.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>

namespace banger::security {
namespace {

// A syscall number no architecture assigns: calling it always meets the default
// action (kill the process). The SIGSYS reporter ends with it.
constexpr long kTripwireSyscall = 1023;

SyscallRule Allow(std::string_view name, std::vector<ArgCondition> conditions = {}) {
  return {name, Verdict::kAllow, 0, std::move(conditions)};
}
SyscallRule Fail(std::string_view name, int err, std::vector<ArgCondition> conditions = {}) {
  return {name, Verdict::kErrno, err, std::move(conditions)};
}
SyscallRule Report(std::string_view name, std::vector<ArgCondition> conditions = {}) {
  return {name, Verdict::kReport, 0, std::move(conditions)};
}

// What every helper needs to run C++ code, threads and malloc included, and no more.
std::vector<SyscallRule> BaseRules() {
  const uint64_t kNoExec = PROT_EXEC;
  std::vector<SyscallRule> rules = {
      Allow("read"), Allow("write"), Allow("readv"), Allow("writev"), Allow("pread64"), Allow("pwrite64"),
      Allow("lseek"), Allow("close"), Allow("recvmsg"), Allow("sendmsg"), Allow("dup"),
      Allow("ppoll"), Allow("poll"),
      Allow("fstat"), Allow("newfstatat"),
      // Memory: never executable.
      Allow("mmap", {{2, ArgCondition::kMaskedEqual, 0, kNoExec}}),
      Allow("mprotect", {{2, ArgCondition::kMaskedEqual, 0, kNoExec}}),
      Allow("munmap"), Allow("mremap"), Allow("brk"), Allow("madvise"),
      // Threads (no new processes) and their bookkeeping.
      Allow("clone", {{0, ArgCondition::kMaskedEqual, CLONE_THREAD, CLONE_THREAD}}),
      Allow("futex"), Allow("set_robust_list"), Allow("rseq"), Allow("sched_yield"), Allow("sched_getaffinity"),
      Allow("exit"), Allow("exit_group"), Allow("restart_syscall"),
      // Signals: a child may block and handle signals, but never replace the SIGSYS reporter.
      Allow("rt_sigreturn"), Allow("rt_sigprocmask"), Allow("sigaltstack"),
      Allow("rt_sigaction", {{0, ArgCondition::kNotEqual, SIGSYS}}),
      // abort() signals itself; tgkill to another process is caught by the default action.
      Allow("tgkill", {{0, ArgCondition::kEqual, static_cast<uint64_t>(::getpid())},
                       {2, ArgCondition::kEqual, SIGABRT}}),
      Allow("getpid"), Allow("getppid"), Allow("gettid"), Allow("getuid"), Allow("geteuid"), Allow("getgid"), Allow("getegid"),
      Allow("clock_gettime"), Allow("clock_getres"), Allow("gettimeofday"), Allow("clock_nanosleep"),
      Allow("nanosleep"), Allow("getrandom"),
      // getrlimit only: prlimit64(0, resource, NULL new limit, old).
      Allow("prlimit64", {{0, ArgCondition::kEqual, 0}, {2, ArgCondition::kEqual, 0}}),
      // And its own RLIMIT_FSIZE, which the broker has it lower (ipc kLimitFileSize): without
      // CAP_SYS_RESOURCE the hard limit only goes down, and the soft one never above it.
      Allow("prlimit64", {{0, ArgCondition::kEqual, 0}, {1, ArgCondition::kEqual, RLIMIT_FSIZE}}),
      // Newer variants: ENOSYS makes glibc fall back to the classic call (Chromium, moby).
      Fail("clone3", ENOSYS), Fail("statx", ENOSYS),
      // isatty() probes; the child has no terminal.
      Fail("ioctl", ENOTTY, {{1, ArgCondition::kEqual, TCGETS}}),
  };
  // fcntl: the descriptor-flag and dup commands only. F_SETOWN/F_SETSIG/O_ASYNC would
  // let a helper have the kernel signal any process of its uid; leases and notifications
  // watch files it has no business watching.
  for (uint64_t command : {F_GETFD, F_SETFD, F_GETFL, F_DUPFD, F_DUPFD_CLOEXEC}) {
    rules.push_back(Allow("fcntl", {{1, ArgCondition::kEqual, command}}));
  }
  rules.push_back(Allow("fcntl", {{1, ArgCondition::kEqual, F_SETFL}, {2, ArgCondition::kMaskedEqual, 0, O_ASYNC}}));
  // Named when tried; any other command meets the default kill.
  for (uint64_t command : {F_SETOWN, F_SETOWN_EX, F_SETSIG, F_SETLEASE, F_NOTIFY}) {
    rules.push_back(Report("fcntl", {{1, ArgCondition::kEqual, command}}));
  }
  rules.push_back(Report("fcntl", {{1, ArgCondition::kEqual, F_SETFL}, {2, ArgCondition::kMaskedEqual, O_ASYNC, O_ASYNC}}));
  if (kUnderAddressSanitizer) {
    // The sanitizer runtime probes memory through a pipe and reads its own settings.
    for (const char* name : {"pipe2", "sched_getaffinity", "sigaltstack", "prctl", "readlink"}) {
      rules.push_back(Allow(name));
    }
  }
  for (const char* name :
       {"open", "openat", "openat2", "creat", "execve", "execveat", "ptrace", "fork", "vfork", "kill",
        "tkill", "mount", "umount2", "unshare", "setns", "chroot", "pivot_root", "bpf", "perf_event_open",
        "process_vm_readv", "process_vm_writev", "keyctl", "add_key", "request_key", "init_module",
        "finit_module", "kexec_load", "userfaultfd", "io_uring_setup", "symlink", "symlinkat", "link",
        "linkat", "unlink", "unlinkat", "rename", "renameat", "renameat2", "mkdir", "mkdirat", "mknod",
        "mknodat", "chmod", "fchmodat", "chown", "fchownat", "setuid", "setgid", "setresuid", "setresgid",
        "setgroups", "capset", "prctl", "seccomp", "personality", "pidfd_open", "pidfd_getfd",
        "memfd_create", "name_to_handle_at", "open_by_handle_at"}) {
    if (kUnderAddressSanitizer && std::string_view(name) == "prctl") continue;
    rules.push_back(Report(name));
  }
  return rules;
}

std::vector<SyscallRule> WithoutRule(std::vector<SyscallRule> rules, std::string_view name) {
  std::erase_if(rules, [&](const SyscallRule& r) { return r.name == name; });
  return rules;
}

// What libcurl and TLS need on sockets the broker connected (docs/fetcher.md); files
// only read-only. Those sockets belong to the host's network, so none may be pointed
// elsewhere: connect returns 0 and does nothing (libcurl 7.88 calls it once on each
// socket it was told is connected, where the kernel would answer 0; an AF_UNSPEC
// connect would otherwise disconnect one for a connect elsewhere); bind, listen, accept
// and a send with MSG_FASTOPEN (a connect in disguise) are named violations. Its own
// sockets reach nothing.
std::vector<SyscallRule> FetcherRules() {
  std::vector<SyscallRule> rules = WithoutRule(WithoutRule(BaseRules(), "openat"), "sendmsg");
  rules.push_back(Allow("openat", {{2, ArgCondition::kMaskedEqual, O_RDONLY, O_ACCMODE | O_CREAT | O_TRUNC}}));
  for (const char* name : {"recvfrom", "recvmmsg", "getsockopt", "setsockopt", "getsockname", "getpeername",
                           "shutdown", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "pipe2", "eventfd2",
                           "getdents64", "uname", "dup2", "dup3", "fdatasync", "fsync", "ftruncate", "socketpair"}) {
    rules.push_back(Allow(name));
  }
  rules.push_back(Fail("connect", 0));
  for (const char* name : {"bind", "listen", "accept", "accept4"}) rules.push_back(Report(name));
  // The flags argument of sendto and sendmmsg is the fourth, of sendmsg the third.
  for (const auto& [name, flags] : {std::pair{"sendto", 3u}, std::pair{"sendmmsg", 3u}, std::pair{"sendmsg", 2u}}) {
    rules.push_back(Allow(name, {{flags, ArgCondition::kMaskedEqual, 0, MSG_FASTOPEN}}));
    rules.push_back(Report(name, {{flags, ArgCondition::kMaskedEqual, MSG_FASTOPEN, MSG_FASTOPEN}}));
  }
  rules.push_back(Allow("ioctl", {{1, ArgCondition::kEqual, FIONREAD}}));
  // Sockets: the internet (libcurl probes for IPv6 with one) and the routing netlink, both
  // of its own empty network namespace. No sock_diag or other netlink; AF_UNIX fails, so
  // no abstract or filesystem socket of the host can be reached.
  rules = WithoutRule(std::move(rules), "socket");
  for (int family : {AF_INET, AF_INET6}) {
    rules.push_back(Allow("socket", {{0, ArgCondition::kEqual, static_cast<uint64_t>(family)}}));
  }
  rules.push_back(Allow("socket", {{0, ArgCondition::kEqual, AF_NETLINK}, {2, ArgCondition::kEqual, NETLINK_ROUTE}}));
  rules.push_back(Fail("socket", EACCES, {{0, ArgCondition::kEqual, AF_UNIX}}));
  // Named when tried; any other family meets the default kill.
  rules.push_back(Report("socket", {{0, ArgCondition::kEqual, AF_NETLINK}, {2, ArgCondition::kNotEqual, NETLINK_ROUTE}}));
  rules.push_back(Report("socket", {{0, ArgCondition::kEqual, AF_PACKET}}));
  return rules;
}

std::vector<SyscallRule> UnpackerRules() {
  std::vector<SyscallRule> rules = BaseRules();
  rules.push_back(Report("socket"));
  rules.push_back(Allow("ftruncate"));
  return rules;
}

std::vector<SyscallRule> ImagerRules() {
  std::vector<SyscallRule> rules = WithoutRule(WithoutRule(BaseRules(), "prctl"), "ioctl");
  rules.push_back(Report("socket"));
  // libext2fs probes its device for sector sizes; on the image (a regular file) the
  // kernel would answer ENOTTY to every such request, so the filter does.
  rules.push_back(Fail("ioctl", ENOTTY));
  // libext2fs's safe_getenv asks whether the process is dumpable; nothing else may pass.
  rules.push_back(Allow("prctl", {{0, ArgCondition::kEqual, PR_GET_DUMPABLE}}));
  rules.push_back({"prctl", Verdict::kReport, 0, {{0, ArgCondition::kNotEqual, PR_GET_DUMPABLE}}});
  // sysinfo: libext2fs sizes its caches from the memory it sees. No copy_file_range or
  // sync_file_range: file bytes are in the image before the imager starts, and it
  // writes metadata only (docs/architecture.md, "How a content byte travels").
  for (const char* name : {"ftruncate", "fsync", "fdatasync", "preadv", "pwritev", "sysinfo"}) {
    rules.push_back(Allow(name));
  }
  // fallocate only in the modes libext2fs's unix_io uses, none of which allocates past the
  // end of the file without growing it (RLIMIT_FSIZE is checked only when the size
  // changes): 0, ZERO_RANGE, and PUNCH_HOLE|KEEP_SIZE. KEEP_SIZE without PUNCH_HOLE is
  // named; any other mode meets the default kill.
  for (uint64_t mode : {uint64_t{0}, uint64_t{FALLOC_FL_ZERO_RANGE}, uint64_t{FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE}}) {
    rules.push_back(Allow("fallocate", {{1, ArgCondition::kEqual, mode}}));
  }
  rules.push_back(Report("fallocate", {{1, ArgCondition::kMaskedEqual, FALLOC_FL_KEEP_SIZE,
                                        FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE}}));
  return rules;
}

scmp_arg_cmp ToLibseccomp(const ArgCondition& c) {
  switch (c.op) {
    case ArgCondition::kEqual: return SCMP_CMP(c.arg, SCMP_CMP_EQ, c.value);
    case ArgCondition::kNotEqual: return SCMP_CMP(c.arg, SCMP_CMP_NE, c.value);
    case ArgCondition::kMaskedEqual: return SCMP_CMP(c.arg, SCMP_CMP_MASKED_EQ, c.mask, c.value);
  }
  return SCMP_CMP(c.arg, SCMP_CMP_EQ, c.value);
}

uint32_t ToAction(const SyscallRule& rule) {
  switch (rule.verdict) {
    case Verdict::kAllow: return SCMP_ACT_ALLOW;
    case Verdict::kErrno: return SCMP_ACT_ERRNO(static_cast<uint16_t>(rule.errno_value));
    case Verdict::kReport: return SCMP_ACT_TRAP;
  }
  return SCMP_ACT_KILL_PROCESS;
}

constexpr int kSysSeccomp = 1;  // si_code of a seccomp SIGSYS (SYS_SECCOMP)

// Async-signal-safe: formats the syscall number by hand and writes one line.
void ReportViolation(int, siginfo_t* info, void*) {
  // A SIGSYS sent by kill(2) names no syscall: die of it without inventing one.
  if (info->si_code != kSysSeccomp) ::syscall(kTripwireSyscall);
  char line[96];
  size_t n = 0;
  for (char c : kViolationMarker) line[n++] = c;
  char digits[24];
  int d = 0;
  unsigned long value = static_cast<unsigned long>(info->si_syscall);
  do {
    digits[d++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0 && d < 20);
  while (d > 0) line[n++] = digits[--d];
  line[n++] = '\n';
  [[maybe_unused]] ssize_t ignored = ::write(STDERR_FILENO, line, n);
  ::syscall(kTripwireSyscall);  // default action: the kernel kills us with SIGSYS
  ::_exit(159);                 // unreachable while the filter is loaded
}

}  // namespace

std::vector<SyscallRule> PolicyFor(ProcessKind kind) {
  switch (kind) {
    case ProcessKind::kFetcher: return FetcherRules();
    case ProcessKind::kUnpacker: return UnpackerRules();
    case ProcessKind::kImager: return ImagerRules();
  }
  return BaseRules();
}

Result<SeccompFilter> BuildSeccompFilter(ProcessKind kind) {
  SeccompFilter ctx(seccomp_init(SCMP_ACT_KILL_PROCESS), seccomp_release);
  if (!ctx) return Error{ErrorCode::kSandbox, "seccomp_init failed"};
  if (seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) != 0 ||
      seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_TSYNC, 1) != 0) {
    return Error{ErrorCode::kSandbox, "cannot set seccomp filter attributes"};
  }
  for (const SyscallRule& rule : PolicyFor(kind)) {
    std::string name(rule.name);
    int nr = seccomp_syscall_resolve_name(name.c_str());
    if (nr == __NR_SCMP_ERROR) continue;  // not a syscall on this architecture
    std::vector<scmp_arg_cmp> cmps;
    for (const ArgCondition& c : rule.conditions) cmps.push_back(ToLibseccomp(c));
    int rc = seccomp_rule_add_array(ctx.get(), ToAction(rule), nr, static_cast<unsigned>(cmps.size()),
                                    cmps.empty() ? nullptr : cmps.data());
    if (rc != 0) {
      return Error{ErrorCode::kSandbox, "seccomp rule for " + name + ": " + std::strerror(-rc)};
    }
  }
  return ctx;
}

Result<void> InstallSeccompPolicy(ProcessKind kind) {
  BANGER_ASSIGN_OR_RETURN(SeccompFilter ctx, BuildSeccompFilter(kind));
  struct sigaction action {};
  action.sa_sigaction = ReportViolation;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  if (::sigaction(SIGSYS, &action, nullptr) != 0) return Error::FromErrno("sigaction(SIGSYS)");
  sigset_t sys;
  sigemptyset(&sys);
  sigaddset(&sys, SIGSYS);
  ::sigprocmask(SIG_UNBLOCK, &sys, nullptr);
  if (int rc = seccomp_load(ctx.get()); rc != 0) {
    return Error{ErrorCode::kSandbox, std::string("seccomp_load: ") + std::strerror(-rc)};
  }
  return {};
}

std::optional<std::string> FindViolationSyscall(std::string_view child_stderr) {
  size_t at = child_stderr.rfind(kViolationMarker);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = child_stderr.substr(at + kViolationMarker.size());
  long number = 0;
  size_t digits = 0;
  while (digits < rest.size() && digits < 6 && rest[digits] >= '0' && rest[digits] <= '9') {
    number = number * 10 + (rest[digits] - '0');
    ++digits;
  }
  if (digits == 0) return std::nullopt;
  return SyscallName(number);
}

std::string SyscallName(long number) {
  char* name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, static_cast<int>(number));
  if (name == nullptr) return "syscall " + std::to_string(number);
  std::string result(name);
  std::free(name);
  return result;
}

}  // namespace banger::security
