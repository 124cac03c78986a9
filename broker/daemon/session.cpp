#include "broker/daemon/session.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <exception>
#include <iostream>
#include <sstream>

#include "base/text.h"
#include "broker/cli/audit_trail.h"
#include "broker/cli/cli.h"
#include "broker/cli/context.h"
#include "broker/cli/output.h"
#include "broker/daemon/tenant_policy.h"
#include "broker/host/accounts.h"
#include "ipc/channel.h"
#include "ipc/daemon_protocol.h"

namespace banger::broker {
namespace {

constexpr int kRequestTimeoutMs = 30'000;  // a client that connects and says nothing
constexpr int kStopGraceMs = 60'000;       // after SIGINT, before SIGKILL
constexpr int kSendTimeoutSeconds = 30;    // a client that reads nothing for this long is gone

// The command's process: root, the daemon's config, stdout and stderr into pipes.
class RequestProcess {
 public:
  static Result<RequestProcess> Start(const Requester& requester, const std::string& config_path,
                                      const ipc::DaemonRequest& request, int client_file);
  RequestProcess(RequestProcess&& other) noexcept
      : pid_(std::exchange(other.pid_, -1)), out_(std::move(other.out_)), err_(std::move(other.err_)) {}
  ~RequestProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  void Signal(int signo) const { ::kill(pid_, signo); }
  // Its exit status as a shell reports it (128 + a signal).
  int Wait() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {}
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  UniqueFd& out() { return out_; }
  UniqueFd& err() { return err_; }

 private:
  RequestProcess(pid_t pid, UniqueFd out, UniqueFd err) : pid_(pid), out_(std::move(out)), err_(std::move(err)) {}
  pid_t pid_ = -1;
  UniqueFd out_, err_;
};

[[noreturn]] void RunRequest(const Requester& requester, const std::string& config_path,
                             const ipc::DaemonRequest& request, int client_file) {
  int status = 1;
  try {
    status = RunCliFor(requester, config_path, request.terminal, request.columns, client_file, request.args, std::cout,
                       std::cerr);
  } catch (const std::exception& e) {
    status = ReportInternalError(std::cerr, e.what());
  } catch (...) {
    status = ReportInternalError(std::cerr, "an unknown exception");
  }
  std::cout.flush();
  std::cerr.flush();
  ::_exit(status);
}

Result<RequestProcess> RequestProcess::Start(const Requester& requester, const std::string& config_path,
                                             const ipc::DaemonRequest& request, int client_file) {
  BANGER_ASSIGN_OR_RETURN(Pipe out, CreatePipe());
  BANGER_ASSIGN_OR_RETURN(Pipe err, CreatePipe());
  const pid_t pid = ::fork();
  if (pid < 0) return Error::FromErrno("fork for a request");
  if (pid == 0) {
    if (::dup2(out.write.get(), STDOUT_FILENO) < 0 || ::dup2(err.write.get(), STDERR_FILENO) < 0) ::_exit(1);
    // The command runs as banger does from a shell: the signals it handles unblocked and
    // at their defaults until it installs its own.
    sigset_t all;
    sigfillset(&all);
    ::sigprocmask(SIG_UNBLOCK, &all, nullptr);
    for (int signo : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD}) ::signal(signo, SIG_DFL);
    RunRequest(requester, config_path, request, client_file);
  }
  return RequestProcess(pid, std::move(out.read), std::move(err.read));
}

// Frames what the command prints to the client, and the end; a cancel or a vanished
// client stops the command, which still ends through its own error path.
class Relay {
 public:
  Relay(ipc::Channel& client, RequestProcess& process, int stop_fd)
      : client_(client), process_(process), stop_fd_(stop_fd) {}

  int Run() {
    while (process_.out().valid() || process_.err().valid()) {
      pollfd waits[4] = {{process_.out().get(), POLLIN, 0},
                         {process_.err().get(), POLLIN, 0},
                         {client_gone_ ? -1 : client_.fd(), POLLIN, 0},
                         {stopped_ ? -1 : stop_fd_, POLLIN, 0}};
      const int ready = ::poll(waits, 4, stopping_since_ ? 1000 : -1);
      if (ready < 0 && errno != EINTR) break;
      if (waits[3].revents != 0) Stop(SIGTERM), stopped_ = true;
      if (waits[2].revents != 0) ReadClient();
      Forward(process_.out(), ipc::MessageType::kDaemonStdout, waits[0].revents);
      Forward(process_.err(), ipc::MessageType::kDaemonStderr, waits[1].revents);
      if (stopping_since_ && std::chrono::steady_clock::now() - *stopping_since_ > std::chrono::milliseconds(kStopGraceMs)) {
        process_.Signal(SIGKILL);
      }
    }
    const int status = process_.Wait();
    if (!client_gone_) {
      (void)client_.Send(ipc::Message::Make(ipc::MessageType::kDaemonExit,
                                            ipc::Encode(ipc::DaemonExit{static_cast<uint64_t>(status & 0xff)})));
    }
    return status;
  }

 private:
  void Stop(int signo) {
    process_.Signal(signo);
    if (!stopping_since_) stopping_since_ = std::chrono::steady_clock::now();
  }

  // The client may only cancel; anything else, or its end, is the same as a cancel.
  void ReadClient() {
    auto message = client_.ReceiveExpecting({ipc::MessageType::kDaemonCancel}, 0);
    if (message && ipc::Decode<ipc::DaemonCancel>(message->body)) {
      Stop(SIGINT);
      return;
    }
    client_gone_ = true;
    Stop(SIGINT);
  }

  void Forward(UniqueFd& pipe, ipc::MessageType type, short revents) {
    if (revents == 0 || !pipe.valid()) return;
    std::string chunk(ipc::kMaxOutputChunkBytes, '\0');
    const ssize_t n = ::read(pipe.get(), chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) return;
    if (n <= 0) {
      pipe.reset();
      return;
    }
    chunk.resize(static_cast<size_t>(n));
    if (!client_gone_ && !client_.Send(ipc::Message::Make(type, std::move(chunk)))) {
      client_gone_ = true;
      Stop(SIGINT);
    }
  }

  ipc::Channel& client_;
  RequestProcess& process_;
  int stop_fd_;
  bool client_gone_ = false;
  bool stopped_ = false;
  std::optional<std::chrono::steady_clock::time_point> stopping_since_;
};

}  // namespace

void Answer(ipc::Channel& client, const std::string& error_line, int status) {
  (void)client.Send(ipc::Message::Make(ipc::MessageType::kDaemonStderr, "banger: error: " + TerminalSafe(error_line) + "\n"));
  (void)client.Send(
      ipc::Message::Make(ipc::MessageType::kDaemonExit, ipc::Encode(ipc::DaemonExit{static_cast<uint64_t>(status)})));
}

void ServeClient(UniqueFd connection, const PeerCredentials& peer, const std::string& config_path, int stop_fd) {
  // A client that stops reading is gone after kSendTimeout: its request is stopped
  // rather than holding its slot.
  const timeval send_timeout{kSendTimeoutSeconds, 0};
  ::setsockopt(connection.get(), SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
  ipc::Channel client(std::move(connection), "client uid " + std::to_string(peer.uid), {ipc::kMaxBodyBytes, 1});
  auto message = client.ReceiveExpecting({ipc::MessageType::kDaemonRequest}, kRequestTimeoutMs);
  if (!message) return;  // nothing to answer: it went away, or sent what no client sends
  auto request = ipc::Decode<ipc::DaemonRequest>(message->body);
  if (!request) return Answer(client, "bangerd could not read the request: " + request.error().message, 2);

  Requester requester = RequesterOf(peer, PeerCommandLine(peer.pid));
  if (request->credentials) {
    requester.credentials_registry = request->credentials->registry;
    requester.credentials = {request->credentials->username, request->credentials->password,
                             request->credentials->identity_token};
  }
  auto config = LoadConfigFrom(config_path);
  if (!config) return Answer(client, "bangerd's config: " + config.error().message, 1);
  const Admission admission = Admit(*config, peer, requester.user);
  requester.admin = admission.admin;
  if (!admission.allowed) {  // the config changed since the loop admitted it
    std::vector<std::string> argv{"banger"};
    argv.insert(argv.end(), request->args.begin(), request->args.end());
    if (auto recorded = AuditTrail::Refuse(*config, config_path, "connect", argv, requester, admission.reason);
        !recorded) {
      return Answer(client, "the audit log cannot record this request: " + recorded.error().message, 1);
    }
    return Answer(client, admission.reason, 1);
  }
  const int client_file = message->fds.empty() ? -1 : message->fds[0].get();
  auto process = RequestProcess::Start(requester, config_path, *request, client_file);
  if (!process) return Answer(client, process.error().message, 1);
  Relay(client, *process, stop_fd).Run();
}

}  // namespace banger::broker
