#include "security/lockdown.h"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <linux/securebits.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "base/fd.h"
#include "security/sanitizer.h"
#include "security/seccomp_policy.h"

#if defined(BANGER_ASAN)
extern "C" void __sanitizer_sandbox_on_notify(void* args);
#endif

namespace banger::security {
namespace {

// The mount point the new root is built on, inside our private mount namespace only.
constexpr const char* kNewRootBase = "/tmp";

Error SandboxErrno(const std::string& what) {
  Error e = Error::FromErrno(what);
  e.code = ErrorCode::kSandbox;
  return e;
}

// As PID 1 of its namespace the helper is not ended by a signal it sends itself: abort()
// would fall through to a crash instruction and read as SIGSEGV. It ends the way a shell
// reports SIGABRT instead, and says so on stderr, whose last line the broker quotes.
void ExitOnAbort(int) {
  static const char kLine[] = "aborted\n";
  [[maybe_unused]] ssize_t ignored = ::write(STDERR_FILENO, kLine, sizeof kLine - 1);
  ::_exit(128 + SIGABRT);
}

Result<void> ReportAbortAsAnExit() {
  struct sigaction action {};
  action.sa_handler = ExitOnAbort;
  sigemptyset(&action.sa_mask);
  if (::sigaction(SIGABRT, &action, nullptr) != 0) return SandboxErrno("sigaction(SIGABRT)");
  return {};
}

// The PID namespace, and the user namespace when the broker is not root, were made by
// the broker when it started this process (spawn.h); the rest are made here.
Result<void> EnterNamespaces(const SandboxSpec& spec) {
  if (spec.use_user_namespace && ::geteuid() != 0) {
    return Error{ErrorCode::kSandbox, "the broker did not map this helper's user namespace"};
  }
  int flags = CLONE_NEWNS | CLONE_NEWIPC;
  if (spec.new_network_namespace) flags |= CLONE_NEWNET;
  if (::unshare(flags) != 0) return SandboxErrno("unshare(namespaces)");
  return {};
}

Result<void> MakeParents(const std::string& path) {
  for (size_t slash = path.find('/', 1); slash != std::string::npos; slash = path.find('/', slash + 1)) {
    std::string dir = path.substr(0, slash);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return SandboxErrno("mkdir " + dir);
  }
  return {};
}

// A bind source held open, so it can be mounted after the tmpfs hides its path.
struct OpenedSource {
  UniqueFd fd;  // O_PATH
  bool is_dir;
  std::string target;
};

Result<std::vector<OpenedSource>> OpenBindSources(const SandboxSpec& spec) {
  std::vector<OpenedSource> sources;
  for (const SandboxSpec::Bind& bind : spec.readonly_binds) {
    UniqueFd fd(::open(bind.source.c_str(), O_PATH | O_CLOEXEC));
    if (!fd) {
      if (errno == ENOENT) continue;  // absent on this host: nothing to show
      return SandboxErrno("open bind source " + bind.source);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return SandboxErrno("stat bind source " + bind.source);
    sources.push_back({std::move(fd), S_ISDIR(st.st_mode), bind.target});
  }
  return sources;
}

Result<void> BindReadOnly(const OpenedSource& source) {
  const std::string target = std::string(kNewRootBase) + source.target;
  BANGER_TRY(MakeParents(target));
  if (source.is_dir) {
    if (::mkdir(target.c_str(), 0755) != 0 && errno != EEXIST) return SandboxErrno("mkdir " + target);
  } else {
    UniqueFd placeholder(::open(target.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
    if (!placeholder) return SandboxErrno("create " + target);
  }
  const std::string from = "/proc/self/fd/" + std::to_string(source.fd.get());
  if (::mount(from.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    return SandboxErrno("bind " + source.target);
  }
  if (::mount(nullptr, target.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
              nullptr) != 0) {
    return SandboxErrno("remount read-only " + source.target);
  }
  return {};
}

// An empty tmpfs becomes "/", the old root is detached, and the new one is made read-only.
Result<void> PivotIntoEmptyRoot(const SandboxSpec& spec) {
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return SandboxErrno("make / private");
  BANGER_ASSIGN_OR_RETURN(std::vector<OpenedSource> sources, OpenBindSources(spec));
  if (::mount("banger-sandbox", kNewRootBase, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "size=64k,nr_inodes=256,mode=0755") != 0) {
    return SandboxErrno(std::string("mount tmpfs on ") + kNewRootBase);
  }
  for (const OpenedSource& source : sources) BANGER_TRY(BindReadOnly(source));
  if (::chdir(kNewRootBase) != 0) return SandboxErrno("chdir new root");
  if (::syscall(SYS_pivot_root, ".", ".") != 0) return SandboxErrno("pivot_root");
  if (::umount2(".", MNT_DETACH) != 0) return SandboxErrno("detach old root");
  if (::chdir("/") != 0) return SandboxErrno("chdir /");
  if (::mount(nullptr, "/", nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
              nullptr) != 0) {
    return SandboxErrno("remount new root read-only");
  }
  return {};
}

Result<void> DropPrivileges(const SandboxSpec& spec) {
  // Lock root out of regaining anything: no setuid fixups, no ambient raise, no root magic.
  const unsigned long securebits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                                   SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                                   SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
  if (::prctl(PR_SET_SECUREBITS, securebits, 0, 0, 0) != 0) return SandboxErrno("prctl(PR_SET_SECUREBITS)");
  for (cap_value_t cap = 0; cap < static_cast<cap_value_t>(cap_max_bits()); ++cap) {
    if (cap_drop_bound(cap) != 0) return SandboxErrno("drop bounding capability " + std::to_string(cap));
  }
  if (!spec.use_user_namespace) {
    if (::setgroups(0, nullptr) != 0) return SandboxErrno("setgroups");
    if (::setresgid(spec.gid, spec.gid, spec.gid) != 0) return SandboxErrno("setresgid");
    if (::setresuid(spec.uid, spec.uid, spec.uid) != 0) return SandboxErrno("setresuid");
  }
  cap_t empty = cap_init();
  if (empty == nullptr) return SandboxErrno("cap_init");
  int rc = cap_set_proc(empty);
  cap_free(empty);
  if (rc != 0) return SandboxErrno("clear capabilities");
  if (cap_reset_ambient() != 0) return SandboxErrno("clear ambient capabilities");
  // As root, other processes of the sandbox uid must not ptrace or inspect the child. In a
  // user namespace the child's host uid is the broker's own, so this would only lock the
  // broker out of /proc/<pid> (the mm belongs to the initial namespace).
  if (!spec.use_user_namespace && ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return SandboxErrno("prctl(PR_SET_DUMPABLE)");
  }
  return {};
}

Result<void> ApplyLimit(int resource, const char* name, uint64_t value) {
  if (value == 0) return {};
  rlimit limit{value, value};
  if (::setrlimit(resource, &limit) != 0) return SandboxErrno(std::string("setrlimit ") + name);
  return {};
}

Result<void> ApplyLimits(const ResourceLimits& limits) {
#if !defined(BANGER_ASAN)
  // AddressSanitizer reserves terabytes of shadow memory; RLIMIT_AS cannot apply to it.
  BANGER_TRY(ApplyLimit(RLIMIT_AS, "RLIMIT_AS", limits.address_space_bytes));
#endif
  BANGER_TRY(ApplyLimit(RLIMIT_NOFILE, "RLIMIT_NOFILE", limits.open_files));
  BANGER_TRY(ApplyLimit(RLIMIT_FSIZE, "RLIMIT_FSIZE", limits.file_size_bytes));
  BANGER_TRY(ApplyLimit(RLIMIT_CPU, "RLIMIT_CPU", limits.cpu_seconds));
  BANGER_TRY(ApplyLimit(RLIMIT_NPROC, "RLIMIT_NPROC", limits.processes));
  rlimit no_core{0, 0};  // a SIGSYS kill must not leave a core file anywhere
  if (::setrlimit(RLIMIT_CORE, &no_core) != 0) return SandboxErrno("setrlimit RLIMIT_CORE");
  return {};
}

}  // namespace

Result<void> LockDown(const SandboxSpec& spec) {
  if (::getpid() != 1) return Error{ErrorCode::kSandbox, "not started in a PID namespace of its own"};
  BANGER_TRY(EnterNamespaces(spec));
  BANGER_TRY(PivotIntoEmptyRoot(spec));
  BANGER_TRY(DropPrivileges(spec));
  // Changing credentials clears the parent-death signal: set it again. As PID 1 the helper
  // cannot ask getppid() whether the broker died meanwhile; its channel says so instead.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) return SandboxErrno("prctl(PR_SET_PDEATHSIG)");
  BANGER_TRY(ReportAbortAsAnExit());
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return SandboxErrno("prctl(PR_SET_NO_NEW_PRIVS)");
  BANGER_TRY(ApplyLimits(spec.limits));
#if defined(BANGER_ASAN)
  __sanitizer_sandbox_on_notify(nullptr);
#endif
  return InstallSeccompPolicy(spec.kind);
}

}  // namespace banger::security
