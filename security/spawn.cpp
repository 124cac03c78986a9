#include "security/spawn.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <linux/sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>

#include "base/text.h"
#include "ipc/session_protocol.h"
#include "security/sanitizer.h"
#include "security/seccomp_policy.h"
#include "security/stop_signal.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace banger::security {
namespace {

constexpr size_t kStderrTailBytes = 16 * 1024;
constexpr int kLimitTimeoutMs = 10000;

using Clock = std::chrono::steady_clock;

int RemainingMs(Clock::time_point deadline, int timeout_ms) {
  if (timeout_ms < 0) return -1;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// Everything the cloned child needs, prepared before clone3() so the child only makes syscalls.
struct ExecPlan {
  int start_fd = -1;         // the child's end of the start handshake (one byte each way)
  int start_broker_fd = -1;  // the broker's end, closed in the child
  bool own_proc_files = false;  // the broker writes this child's id maps (a user namespace)
  const char* path = nullptr;
  std::vector<char*> argv;
  std::vector<char*> envp;
  std::vector<int> sources;  // sources[i] becomes fd i
};

[[noreturn]] void ExecInChild(const ExecPlan& plan) {
  // Default dispositions, then the parent's mask lifted: the helper starts clean.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  // The child is PID 1 of its own namespace, so getppid() says 0 whoever its parent is:
  // the start byte is what proves the broker outlived the death-signal setup.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) ::_exit(127);
  // A broker that changed its ids is not dumpable, nor is this copy of it, and then its
  // /proc files are root's: the broker could not write the id maps. exec resets it anyway.
  if (plan.own_proc_files && ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) ::_exit(127);
  ::close(plan.start_broker_fd);
  // "ready", then wait for "go": the broker sets the child up in between, and a broker
  // that died before the death signal was set is an end of file here.
  char go = 'r';
  if (::write(plan.start_fd, &go, 1) != 1) ::_exit(127);
  ssize_t got;
  do {
    got = ::read(plan.start_fd, &go, 1);
  } while (got < 0 && errno == EINTR);
  if (got != 1) ::_exit(127);
  ::setsid();  // no controlling terminal

  // Copy every source above the target range first, so no dup2 clobbers a later source.
  const int count = static_cast<int>(plan.sources.size());
  int copies[64];
  for (int i = 0; i < count; ++i) {
    copies[i] = ::fcntl(plan.sources[i], F_DUPFD_CLOEXEC, count);
    if (copies[i] < 0) ::_exit(127);
  }
  for (int i = 0; i < count; ++i) {
    if (::dup2(copies[i], i) != i) ::_exit(127);
  }
  ::syscall(SYS_close_range, count, ~0U, 0);
  ::execve(plan.path, plan.argv.data(), plan.envp.data());
  static const char kMessage[] = "banger: cannot execute helper\n";
  [[maybe_unused]] ssize_t ignored = ::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
  ::_exit(127);
}

// Each helper is PID 1 of a PID namespace of its own: no other process is there to be
// signalled, traced or named (docs/sandbox.md). Without root the broker cannot make a PID
// namespace alone, so it makes the user namespace in the same step and maps its ids.
pid_t CloneIntoNamespaces(const SandboxSpec& spec) {
  clone_args args{};
  args.flags = CLONE_NEWPID | (spec.use_user_namespace ? CLONE_NEWUSER : 0);
  args.exit_signal = SIGCHLD;
  return static_cast<pid_t>(::syscall(SYS_clone3, &args, sizeof args));
}

// As root the broker gave the child its ids: every one of them must be those, as the
// kernel shows them (a uid per pull is only worth what this check makes it).
Result<void> VerifyIdentity(const ProcStatus& status, const SandboxSpec& spec, const std::string& name) {
  if (spec.use_user_namespace) return {};
  for (uid_t uid : status.uids) {
    if (uid != spec.uid) {
      return Error{ErrorCode::kSandbox, name + " runs as uid " + std::to_string(uid) + ", not the " +
                                            std::to_string(spec.uid) + " it was given"};
    }
  }
  for (gid_t gid : status.gids) {
    if (gid != spec.gid) {
      return Error{ErrorCode::kSandbox, name + " runs as gid " + std::to_string(gid) + ", not the " +
                                            std::to_string(spec.gid) + " it was given"};
    }
  }
  if (!status.groups.empty()) {
    return Error{ErrorCode::kSandbox, name + " keeps supplementary group " + std::to_string(status.groups.front())};
  }
  return {};
}

// One write(2): the kernel takes an id map only whole, and only once.
Result<void> WriteChildProcFile(pid_t pid, const char* name, const std::string& text) {
  const std::string path = "/proc/" + std::to_string(pid) + "/" + name;
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return Error::FromErrno("open " + path);
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    return Error::FromErrno("write " + path);
  }
  return {};
}

// Before the child execs: in a user namespace, only the broker's own ids exist, as root,
// so that the exec'd helper holds the namespace's capabilities to build its mount tree.
Result<void> StartChild(pid_t pid, const SandboxSpec& spec, int start_fd) {
  char ready = 0;
  ssize_t got;
  do {
    got = ::read(start_fd, &ready, 1);
  } while (got < 0 && errno == EINTR);
  if (got != 1 || ready != 'r') return Error{ErrorCode::kChildFailed, "the child ended before it was ready"};
  if (spec.use_user_namespace) {
    BANGER_TRY(WriteChildProcFile(pid, "setgroups", "deny"));
    BANGER_TRY(WriteChildProcFile(pid, "uid_map", "0 " + std::to_string(::geteuid()) + " 1"));
    BANGER_TRY(WriteChildProcFile(pid, "gid_map", "0 " + std::to_string(::getegid()) + " 1"));
  }
  if (::write(start_fd, "g", 1) != 1) return Error::FromErrno("start handshake");
  return {};
}

}  // namespace

bool ChildExit::sandbox_violation() const { return signaled && signal == SIGSYS; }

std::string ChildExit::Describe() const {
  if (sandbox_violation()) {
    return "sandbox violation: " + violation_syscall.value_or("a forbidden system call (not identified)");
  }
  if (signaled) {
    const char* abbrev = sigabbrev_np(signal);
    return "killed by signal " + std::to_string(signal) + (abbrev ? std::string(" (SIG") + abbrev + ")" : "");
  }
  if (code == 127) return "could not be executed (exit status 127)";
  return "exited with status " + std::to_string(code);
}

Result<SandboxedChild> SandboxedChild::Spawn(SpawnOptions options) {
  if (options.passed_fds.size() > 32) {
    return Error{ErrorCode::kInvalidArgument, "too many fds passed to " + options.name};
  }
  if (::access(options.executable.c_str(), X_OK) != 0) {
    return Error::FromErrno("helper " + options.name + " at " + options.executable);
  }
  BANGER_ASSIGN_OR_RETURN(auto ends, ipc::Channel::CreatePair());
  auto& [parent_end, child_end] = ends;
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return Error::FromErrno("pipe2");
  UniqueFd stderr_read(pipe_fds[0]), stderr_write(pipe_fds[1]);
  ::fcntl(stderr_read.get(), F_SETFL, O_NONBLOCK);
  UniqueFd dev_null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!dev_null) return Error::FromErrno("open /dev/null");

  std::vector<std::string> argv_storage = {options.executable};
  argv_storage.insert(argv_storage.end(), options.args.begin(), options.args.end());
  std::vector<std::string> env_storage = {"LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  if (kUnderAddressSanitizer) env_storage.push_back("ASAN_OPTIONS=detect_leaks=0");
  env_storage.insert(env_storage.end(), options.environment.begin(), options.environment.end());

  ExecPlan plan;
  plan.path = argv_storage[0].c_str();
  for (auto& a : argv_storage) plan.argv.push_back(a.data());
  plan.argv.push_back(nullptr);
  for (auto& e : env_storage) plan.envp.push_back(e.data());
  plan.envp.push_back(nullptr);
  plan.sources = {dev_null.get(), dev_null.get(), stderr_write.get(), child_end.fd()};
  for (const auto& fd : options.passed_fds) plan.sources.push_back(fd.get());

  int start_fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, start_fds) != 0) return Error::FromErrno("socketpair");
  UniqueFd start_child(start_fds[0]), start_broker(start_fds[1]);
  plan.start_fd = start_child.get();
  plan.start_broker_fd = start_broker.get();
  plan.own_proc_files = options.spec.use_user_namespace;

  // Block signals across clone so no broker handler runs in the child before exec.
  sigset_t all, previous;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &previous);
  const pid_t pid = CloneIntoNamespaces(options.spec);
  if (pid == 0) ExecInChild(plan);
  int clone_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (pid < 0) return Error::FromErrno("clone3 " + options.name, clone_errno);
  start_child.reset();
  // Until "go" the child waits; if anything below fails it reads EOF and exits.
  if (auto started = StartChild(pid, options.spec, start_broker.get()); !started) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return started.error().Wrap("starting " + options.name);
  }
  start_broker.reset();

  SandboxedChild child;
  child.name_ = options.name;
  child.stop_fd_ = options.stop_fd;
  child.pid_ = pid;
  child.pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!child.pidfd_) {
    int err = errno;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return Error::FromErrno("pidfd_open for " + options.name, err);
  }
  child.stderr_ = std::move(stderr_read);
  child.channel_ = std::move(parent_end);
  child.channel_.set_peer_name(options.name);
  // The child's ends now live only in the child.
  stderr_write.reset();
  child_end = ipc::Channel();
  options.passed_fds.clear();

  BANGER_TRY(child.Send(ipc::Message::WithJson(ipc::MessageType::kSandboxConfig, SpecToJson(options.spec))));
  auto locked = child.ReceiveExpecting({ipc::MessageType::kLocked}, options.lock_timeout_ms);
  if (!locked) {
    child.Kill();
    return locked.error().Wrap("starting " + options.name);
  }
  auto status = ReadProcStatus(pid);
  if (!status) {
    child.Kill();
    return status.error().Wrap("checking " + options.name);
  }
  if (auto confined = VerifyConfined(*status, options.name); !confined) {
    child.Kill();
    return confined.error();
  }
  if (auto as_given = VerifyIdentity(*status, options.spec, options.name); !as_given) {
    child.Kill();
    return as_given.error();
  }
  child.status_at_lock_ = *status;
  return child;
}

SandboxedChild& SandboxedChild::operator=(SandboxedChild&& other) noexcept {
  if (this != &other) {
    Kill();
    name_ = std::move(other.name_);
    stop_fd_ = other.stop_fd_;
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::move(other.pidfd_);
    stderr_ = std::move(other.stderr_);
    channel_ = std::move(other.channel_);
    status_at_lock_ = other.status_at_lock_;
    stderr_tail_ = std::move(other.stderr_tail_);
    exit_ = std::move(other.exit_);
  }
  return *this;
}

SandboxedChild::~SandboxedChild() { Kill(); }

void SandboxedChild::Kill() {
  if (!pidfd_ || exit_) return;
  ::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
  Reap(-1);
}

Result<void> SandboxedChild::LimitFileSize(uint64_t bytes) {
  BANGER_TRY(Send(ipc::Message::Make(ipc::MessageType::kLimitFileSize, ipc::Encode(ipc::FileSizeLimit{bytes}))));
  BANGER_TRY(ReceiveExpecting({ipc::MessageType::kFileSizeLimited}, kLimitTimeoutMs));
  // The kernel's word, not the child's (invariant I4).
  auto limits = ReadFileSizeLimits(pid_);
  if (!limits) return limits.error().Wrap("checking " + name_);
  if (limits->hard > bytes || limits->soft > bytes) {
    return BrokeProtocol("it said its file size limit is " + std::to_string(bytes) + " bytes, the kernel says " +
                         std::to_string(limits->hard));
  }
  return {};
}

Result<void> SandboxedChild::Send(const ipc::Message& message) {
  auto sent = channel_.Send(message);
  if (!sent && sent.error().code == ErrorCode::kPeerClosed) return DeathError();
  return sent;
}

void SandboxedChild::DrainStderr() {
  if (!stderr_) return;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(stderr_.get(), buffer, sizeof buffer);
    if (n > 0) {
      stderr_tail_.append(buffer, static_cast<size_t>(n));
      if (stderr_tail_.size() > kStderrTailBytes) stderr_tail_.erase(0, stderr_tail_.size() - kStderrTailBytes);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) stderr_.reset();  // the child and every copy of its stderr are gone
    return;
  }
}

bool SandboxedChild::Reap(int timeout_ms) {
  if (exit_) return true;
  if (!pidfd_) return false;
  pollfd pfd{pidfd_.get(), POLLIN, 0};
  int ready;
  do {
    ready = ::poll(&pfd, 1, timeout_ms);
  } while (ready < 0 && errno == EINTR);
  if (ready <= 0) return false;
  siginfo_t info{};
  int rc;
  do {
    rc = ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd_.get()), &info, WEXITED);
  } while (rc < 0 && errno == EINTR);
  if (rc != 0) return false;
  DrainStderr();
  ChildExit end;
  end.signaled = info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED;
  (end.signaled ? end.signal : end.code) = info.si_status;
  if (end.sandbox_violation()) end.violation_syscall = FindViolationSyscall(stderr_tail_);
  exit_ = end;
  return true;
}

Error SandboxedChild::DeathError() {
  // The channel closed: the child is dying or dead. Give it a moment to be reaped.
  if (!Reap(5000)) {
    Kill();
    return Error{ErrorCode::kChildFailed, name_ + " closed its channel and was killed"};
  }
  const ErrorCode code = exit_->sandbox_violation() ? ErrorCode::kSandbox : ErrorCode::kChildFailed;
  std::string message = name_ + " " + exit_->Describe();
  if (!exit_->sandbox_violation()) {
    // The child's own last words usually say why.
    std::string_view tail = stderr_tail_;
    while (!tail.empty() && tail.back() == '\n') tail.remove_suffix(1);
    size_t line_start = tail.rfind('\n');
    std::string_view last = line_start == std::string_view::npos ? tail : tail.substr(line_start + 1);
    if (!last.empty()) message += ": " + TerminalSafe(last, 300);
  }
  return Error{code, message};
}

Result<SandboxedChild::Awaited> SandboxedChild::Await(const std::vector<int>& watched, int timeout_ms) {
  if (exit_) return DeathError();
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms);
  std::vector<pollfd> fds = {{channel_.fd(), POLLIN, 0}, {pidfd_.get(), POLLIN, 0}, {stop_fd_, POLLIN, 0},
                             {stderr_.get(), POLLIN, 0}};
  for (int fd : watched) fds.push_back({fd, POLLIN, 0});
  for (;;) {
    for (auto& p : fds) p.revents = 0;
    fds[3].fd = stderr_.get();  // -1 (ignored) once the child's stderr has ended
    int ready = ::poll(fds.data(), fds.size(), RemainingMs(deadline, timeout_ms));
    if (ready < 0 && errno == EINTR) continue;
    if (fds[2].revents != 0) return Error{ErrorCode::kStopped, StopReason()};
    if (ready < 0) return Error::FromErrno("waiting for " + name_);
    if (ready == 0) return Error{ErrorCode::kTimeout, name_ + " did not answer within " + std::to_string(timeout_ms) + " ms"};
    if (stderr_ && fds[3].revents != 0) DrainStderr();
    Awaited awaited;
    for (size_t i = 4; i < fds.size(); ++i) {
      if ((fds[i].revents & POLLNVAL) != 0) {
        return Error{ErrorCode::kUnexpected, "waiting for " + name_ + ": fd " + std::to_string(fds[i].fd) + " is not open"};
      }
      if (fds[i].revents != 0) awaited.ready.push_back(fds[i].fd);
    }
    if (fds[0].revents != 0) {
      auto message = channel_.Receive(0);
      if (message) {
        awaited.message = std::move(*message);
        return awaited;
      }
      if (message.error().code == ErrorCode::kPeerClosed) {
        if (!awaited.ready.empty()) return awaited;  // what it wrote before it went comes first
        return DeathError();
      }
      if (message.error().code != ErrorCode::kTimeout) {
        Kill();  // a malformed frame is the child's failure, never the broker's
        return Error{ErrorCode::kChildFailed, message.error().message};
      }
    }
    if (!awaited.ready.empty()) return awaited;
    if (fds[1].revents != 0) return DeathError();
  }
}

Result<ipc::Message> SandboxedChild::Receive(int timeout_ms) {
  auto awaited = Await({}, timeout_ms);
  if (!awaited) return awaited.error();
  if (!awaited->message) return Error{ErrorCode::kUnexpected, "waiting for " + name_ + " ended without a message"};
  return std::move(*awaited->message);
}

Result<ipc::Message> SandboxedChild::ReceiveExpecting(std::initializer_list<ipc::MessageType> allowed,
                                                      int timeout_ms) {
  BANGER_ASSIGN_OR_RETURN(ipc::Message message, Receive(timeout_ms));
  BANGER_TRY(CheckExpected(message, allowed));
  return message;
}

Error SandboxedChild::BrokeProtocol(const std::string& what) {
  Kill();
  return Error{ErrorCode::kChildFailed, name_ + " broke protocol: " + what};
}

Result<void> SandboxedChild::CheckExpected(const ipc::Message& message,
                                           std::initializer_list<ipc::MessageType> allowed) {
  for (ipc::MessageType type : allowed) {
    if (message.type == type) return {};
  }
  if (message.type == ipc::MessageType::kError) {
    // A failure the child reports about its input keeps its class; anything else is the child's.
    Error reported = ipc::ErrorFromMessage(message);
    if (reported.code == ErrorCode::kChildFailed) reported.message = name_ + ": " + reported.message;
    return reported;
  }
  return BrokeProtocol("it sent '" + std::string(ipc::MessageTypeName(message.type)) + "' out of turn");
}

Result<void> SandboxedChild::Shutdown(int timeout_ms) {
  (void)Send(ipc::Message::Make(ipc::MessageType::kShutdown));  // a dead child is described by Wait
  const ChildExit end = Wait(timeout_ms);
  if (end.signaled || end.code != 0) return Error{ErrorCode::kChildFailed, name_ + " " + end.Describe() + " at shutdown"};
  return {};
}

ChildExit SandboxedChild::Wait(int timeout_ms) {
  if (!Reap(timeout_ms)) Kill();
  return exit_.value_or(ChildExit{true, 0, SIGKILL, std::nullopt});
}

}  // namespace banger::security
