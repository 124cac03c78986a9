#include "assets/agent/sandbox.h"

#include <grp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "assets/agent/common.h"

namespace banger::agent {
namespace {

// Owns a libseccomp filter context.
class Filter {
 public:
  Filter() {
    ctx_ = ::seccomp_init(SCMP_ACT_KILL_PROCESS);
    // Kernels before 4.14 lack KILL_PROCESS; the agent is single-threaded, so KILL is the same.
    if (ctx_ == nullptr) ctx_ = ::seccomp_init(SCMP_ACT_KILL);
  }
  ~Filter() {
    if (ctx_ != nullptr) ::seccomp_release(ctx_);
  }
  Filter(const Filter&) = delete;
  Filter& operator=(const Filter&) = delete;
  scmp_filter_ctx get() const { return ctx_; }

 private:
  scmp_filter_ctx ctx_ = nullptr;
};

std::string Allow(scmp_filter_ctx ctx, const char* name, unsigned count = 0, const scmp_arg_cmp* args = nullptr) {
  const int nr = ::seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR) return std::string("unknown system call ") + name;
  const int rc = ::seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, count, args);
  if (rc != 0) return std::string("seccomp rule for ") + name + ": " + ErrnoText(-rc);
  return "";
}

std::string DropRoot() {
  if (::geteuid() != 0) return "";
  if (::setgroups(0, nullptr) != 0) return "setgroups: " + ErrnoText(errno);
  if (::setresgid(kUnprivilegedId, kUnprivilegedId, kUnprivilegedId) != 0) return "setresgid: " + ErrnoText(errno);
  // Leaving uid 0 clears every capability set (no SECBIT_KEEP_CAPS).
  if (::setresuid(kUnprivilegedId, kUnprivilegedId, kUnprivilegedId) != 0) return "setresuid: " + ErrnoText(errno);
  return "";
}

std::string BuildFilter(scmp_filter_ctx ctx, int listen_fd) {
  // The serving loop: accept on the listener, recv/send/shutdown/close clients, poll.
  const scmp_arg_cmp on_listener[] = {SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(listen_fd))};
  std::string error = Allow(ctx, "accept4", 1, on_listener);
  // Log lines only: write and writev to stdout/stderr.
  const scmp_arg_cmp std_streams[] = {SCMP_A0(SCMP_CMP_LE, STDERR_FILENO)};
  const scmp_arg_cmp no_exec[] = {SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)};
  for (const char* name : {"write", "writev"}) {
    if (error.empty()) error = Allow(ctx, name, 1, std_streams);
  }
  // Memory for std::string and friends, never executable.
  for (const char* name : {"mmap", "mprotect"}) {
    if (error.empty()) error = Allow(ctx, name, 1, no_exec);
  }
  for (const char* name : {// clients and the uptime descriptor
                           "recvfrom", "sendto", "shutdown", "close", "poll", "ppoll", "pread64",
                           // time
                           "clock_gettime", "gettimeofday",
                           // memory
                           "brk", "munmap", "mremap", "madvise", "futex",
                           // leaving, signals, and abort() reporting itself as SIGABRT
                           "exit", "exit_group", "rt_sigreturn", "restart_syscall", "rt_sigprocmask",
                           "getpid", "gettid", "tgkill"}) {
    if (error.empty()) error = Allow(ctx, name);
  }
  return error;
}

}  // namespace

std::string LockDown(int listen_fd, std::string* summary) {
  const bool was_root = ::geteuid() == 0;
  if (std::string error = DropRoot(); !error.empty()) return "dropping root: " + error;
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return "PR_SET_NO_NEW_PRIVS: " + ErrnoText(errno);

  Filter filter;
  if (filter.get() == nullptr) return "seccomp_init failed";
  if (std::string error = BuildFilter(filter.get(), listen_fd); !error.empty()) return error;
  if (const int rc = ::seccomp_load(filter.get()); rc != 0) return "loading the seccomp filter: " + ErrnoText(-rc);

  *summary = "no_new_privs, seccomp allowlist";
  if (was_root) *summary += ", uid/gid " + std::to_string(kUnprivilegedId);
  return "";
}

}  // namespace banger::agent
