// The broker side of a sandboxed helper: exec it with a clean environment and its fds at
// fixed numbers, hand it its SandboxSpec, wait for "locked", check /proc/<pid>/status,
// and from then on watch it through a pidfd so its end is reported precisely.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "ipc/channel.h"
#include "base/fd.h"
#include "base/result.h"
#include "security/proc_status.h"
#include "security/sandbox_spec.h"

namespace banger::security {

// Fixed descriptor numbers in every helper: 0/1 are /dev/null, 2 is a pipe the broker reads.
inline constexpr int kChannelFd = 3;
inline constexpr int kFirstPassedFd = 4;

struct ChildExit {
  bool signaled = false;
  int code = 0;    // exit status when !signaled
  int signal = 0;  // terminating signal when signaled
  std::optional<std::string> violation_syscall;

  bool sandbox_violation() const;
  // "exited with status 2", "killed by signal 9 (SIGKILL)", "sandbox violation: openat".
  std::string Describe() const;
};

struct SpawnOptions {
  std::string executable;           // absolute path of the helper
  std::string name;                 // how errors name it, e.g. "banger-unpacker"
  std::vector<std::string> args;    // argv[1..]
  SandboxSpec spec;
  std::vector<UniqueFd> passed_fds;  // become fds 4, 5, ... in the child
  std::vector<std::string> environment;  // KEY=VALUE added to the clean environment
  int lock_timeout_ms = 20000;
  // Readable when the broker is asked to stop (stop_signal.h's StopFd for SIGINT and
  // SIGTERM): every wait on the child then ends with kStopped. -1: nothing stops it.
  int stop_fd = -1;
};

class SandboxedChild {
 public:
  // Returns only once the child is locked down and /proc confirms it (invariant I4).
  static Result<SandboxedChild> Spawn(SpawnOptions options);

  SandboxedChild(SandboxedChild&&) noexcept = default;
  SandboxedChild& operator=(SandboxedChild&&) noexcept;
  ~SandboxedChild();

  Result<void> Send(const ipc::Message& message);
  // The next message, or an error that says how the child ended if it died first.
  // A malformed frame is the child's failure: it is killed and the error names it.
  Result<ipc::Message> Receive(int timeout_ms = -1);
  Result<ipc::Message> ReceiveExpecting(std::initializer_list<ipc::MessageType> allowed, int timeout_ms = -1);
  // A message that breaks the protocol (undecodable, out of bounds, contradicting what the
  // broker knows) is the child's failure: it is killed, and the error says
  // "<name> broke protocol: <what>" (exit 3).
  Error BrokeProtocol(const std::string& what);
  // Ok when `message` is of an `allowed` type; a kError is the child's reported failure,
  // anything else out of turn kills it.
  Result<void> CheckExpected(const ipc::Message& message, std::initializer_list<ipc::MessageType> allowed);
  // Receive, but also ends when one of `watched` (pipes the child writes into) is
  // readable or hung up: then `ready` lists those fds, and `message` may be empty.
  struct Awaited {
    std::optional<ipc::Message> message;
    std::vector<int> ready;
  };
  Result<Awaited> Await(const std::vector<int>& watched, int timeout_ms);

  // Waits for the child to end (killing it at the deadline, -1 = no deadline) and reaps it.
  ChildExit Wait(int timeout_ms = -1);
  // The end of a helper's work: kShutdown, then Wait. Anything but exit status 0 is a
  // kChildFailed error saying how it ended ("banger-imager killed by signal 9 at shutdown").
  Result<void> Shutdown(int timeout_ms);
  void Kill();
  // Has the child lower its RLIMIT_FSIZE (soft and hard) to `bytes` once the broker knows
  // what the job may write, before the job's request, then checks /proc/<pid>/limits. The
  // broker may lack CAP_SYS_RESOURCE to do it itself (prlimit on another uid); the child
  // cannot raise it again (docs/sandbox.md).
  Result<void> LimitFileSize(uint64_t bytes);

  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.get(); }
  const std::string& name() const { return name_; }
  const ProcStatus& status_at_lock() const { return status_at_lock_; }
  const std::string& stderr_tail() const { return stderr_tail_; }
  const std::optional<ChildExit>& exit() const { return exit_; }

 private:
  SandboxedChild() = default;
  void DrainStderr();
  bool Reap(int timeout_ms);
  Error DeathError();

  std::string name_;
  int stop_fd_ = -1;
  pid_t pid_ = -1;
  UniqueFd pidfd_;
  UniqueFd stderr_;
  ipc::Channel channel_;
  ProcStatus status_at_lock_;
  std::string stderr_tail_;
  std::optional<ChildExit> exit_;
};

}  // namespace banger::security
