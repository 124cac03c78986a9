#include "broker/daemon/server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <deque>
#include <map>
#include <optional>

#include "broker/cli/audit_trail.h"
#include "broker/cli/context.h"
#include "broker/daemon/peer.h"
#include "broker/daemon/session.h"
#include "broker/daemon/tenant_policy.h"
#include "broker/host/accounts.h"
#include "ipc/channel.h"
#include "ipc/daemon_protocol.h"

namespace banger::broker {
namespace {

constexpr size_t kMaxWaiting = 256;        // connections waiting for a slot, in all
constexpr size_t kMaxWaitingPerUid = 32;   // and per uid, so no one user fills the queue

struct Waiting {
  UniqueFd connection;
  PeerCredentials peer;
  uint64_t max_at_once = 0;  // this peer's requests at once (admins: the global bound)
  std::optional<uint64_t> per_minute;  // its requests a minute (admins: none)
};

// The signals the loop reads from a signalfd instead of having handlers.
sigset_t LoopSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int signo : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, signo);
  return set;
}

// Answers a client the loop will not serve, without waiting for it. What it already sent
// is read first: closing a unix socket with unread data resets it, and the client would
// lose the answer.
void Refuse(UniqueFd connection, const std::string& line) {
  char discard[512];
  while (::recv(connection.get(), discard, sizeof discard, MSG_DONTWAIT | MSG_TRUNC) > 0) {}
  ipc::Channel client(std::move(connection), "client", {ipc::kMaxBodyBytes, 0});
  Answer(client, line, 1);
}

class Loop {
 public:
  Loop(UniqueFd listener, UniqueFd signals, const ServerSettings& settings, ServerLimits limits)
      : listener_(std::move(listener)), signals_(std::move(signals)), settings_(settings), limits_(limits) {}

  Result<void> Run() {
    while (!stopping_ || !running_.empty()) {
      // Out of fds, accept waits a moment rather than spinning on a readable listener.
      const bool accepting = !stopping_ && std::chrono::steady_clock::now() >= accept_again_;
      pollfd waits[2] = {{signals_.get(), POLLIN, 0}, {accepting ? listener_.get() : -1, POLLIN, 0}};
      if (::poll(waits, 2, accepting || stopping_ ? -1 : 100) < 0) {
        if (errno == EINTR) continue;
        return Error::FromErrno("poll in bangerd's loop");
      }
      if (waits[0].revents != 0) ReadSignals();
      if (waits[1].revents != 0) Accept();
      StartWaiting();
    }
    return {};
  }

 private:
  void ReadSignals() {
    signalfd_siginfo info{};
    while (::read(signals_.get(), &info, sizeof(info)) == sizeof(info)) {
      if (info.ssi_signo == SIGCHLD) {
        Reap();
      } else if (info.ssi_signo == SIGHUP) {
        Reload();
      } else if (!stopping_) {
        stopping_ = true;
        settings_.log("stopping (signal " + std::to_string(info.ssi_signo) + "): " + std::to_string(running_.size()) +
                      " requests in progress are stopped");
        for (const auto& [pid, uid] : running_) ::kill(pid, SIGTERM);
        while (!waiting_.empty()) {
          Refuse(std::move(waiting_.front().connection), "bangerd is stopping; the request was not started");
          waiting_.pop_front();
        }
      }
    }
  }

  void Reap() {
    for (;;) {
      const pid_t pid = ::waitpid(-1, nullptr, WNOHANG);
      if (pid <= 0) return;
      if (auto found = running_.find(pid); found != running_.end()) {
        if (--per_uid_[found->second] == 0) per_uid_.erase(found->second);
        running_.erase(found);
      }
    }
  }

  void Reload() {
    auto limits = settings_.load_limits();
    if (!limits) return settings_.log("SIGHUP: the config was not reloaded: " + limits.error().message);
    limits_ = *limits;
    settings_.log("SIGHUP: reloaded the config (max_requests " + std::to_string(limits_.max_requests) +
                  ", tenant_max_requests " + std::to_string(limits_.tenant_max_requests) + ")");
  }

  void Accept() {
    UniqueFd connection(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!connection) {
      if (errno == EMFILE || errno == ENFILE) accept_again_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
        settings_.log(Error::FromErrno("accept").message);
      }
      return;
    }
    // The request frames are read blocking, in the client's own process.
    auto peer = ReadPeerCredentials(connection.get());
    if (!peer) return settings_.log(peer.error().message);
    const std::string user = UserName(peer->uid);
    const Admission admission = Admit(limits_.config, *peer, user);
    if (!admission.allowed) {
      RecordRefusal(*peer, admission.reason);
      return Refuse(std::move(connection), admission.reason);
    }
    size_t mine = 0;
    for (const Waiting& w : waiting_) mine += w.peer.uid == peer->uid ? 1 : 0;
    if (waiting_.size() >= kMaxWaiting || mine >= kMaxWaitingPerUid) {
      const std::string reason = mine >= kMaxWaitingPerUid
                                     ? "bangerd is busy: " + std::to_string(mine) + " requests of " + Named(*peer, user) +
                                           " are waiting already; try again when one ends"
                                     : "bangerd is busy: " + std::to_string(waiting_.size()) +
                                           " requests are waiting; try again later";
      RecordRefusal(*peer, reason);
      return Refuse(std::move(connection), reason);
    }
    Waiting& waiting = waiting_.emplace_back(Waiting{std::move(connection), *peer});
    Bound(waiting, admission, user);
  }

  // The peer's bounds, from the policy's answer: an admin's requests are bounded by
  // max_requests alone; a tenant's by its own or its groups' max_requests (else
  // tenant_max_requests) and its requests_per_minute.
  void Bound(Waiting& waiting, const Admission& admission, const std::string& user) const {
    if (admission.admin) {
      waiting.max_at_once = limits_.max_requests;
      return;
    }
    const TenantLimits limits = LimitsFor(limits_.config, user, waiting.peer.AllGroups());
    waiting.max_at_once = limits.max_requests.value_or(limits_.tenant_max_requests);
    waiting.per_minute = limits.requests_per_minute;
  }

  // A request the loop refuses (a peer the policy does not admit, a tenant over its rate,
  // a full queue), in the audit log: one record each, as every other request. A flood of
  // refused connections is a flood of records naming its uid, pid and process: the record
  // is what holds the flooder to account (docs/multi-tenant.md, "Refusals").
  void RecordRefusal(const PeerCredentials& peer, const std::string& reason) {
    // The kernel's name of the process: the loop reads nothing of the peer's memory.
    const Requester requester = RequesterOf(peer, peer.name);
    if (auto recorded = AuditTrail::Refuse(limits_.config, settings_.config_path, "connect", {}, requester, reason);
        !recorded) {
      settings_.log("the audit log could not record a refusal: " + recorded.error().message);
    }
  }

  static std::string Named(const PeerCredentials& peer, const std::string& user) {
    return user.empty() ? "uid " + std::to_string(peer.uid) : user;
  }

  // Starts every waiting client that has a slot, oldest first.
  void StartWaiting() {
    for (auto it = waiting_.begin(); it != waiting_.end() && running_.size() < limits_.max_requests;) {
      const uid_t uid = it->peer.uid;
      if (per_uid_[uid] >= it->max_at_once) {
        ++it;
        continue;
      }
      if (it->per_minute && RecentStarts(uid) >= *it->per_minute) {
        const std::string reason = Named(it->peer, UserName(uid)) + " made more than " +
                                   std::to_string(*it->per_minute) +
                                   " requests in the last minute (tenant_requests_per_minute); try again shortly";
        RecordRefusal(it->peer, reason);
        Refuse(std::move(it->connection), reason);
        it = waiting_.erase(it);
        continue;
      }
      NoteStart(uid);
      const pid_t pid = StartClient(std::move(*it));
      if (pid > 0) {
        running_[pid] = uid;
        ++per_uid_[uid];
      }
      it = waiting_.erase(it);
    }
  }

  // This uid's requests started in the last minute.
  size_t RecentStarts(uid_t uid) {
    auto found = started_.find(uid);
    if (found == started_.end()) return 0;
    const auto now = std::chrono::steady_clock::now();
    while (!found->second.empty() && now - found->second.front() > std::chrono::minutes(1)) found->second.pop_front();
    return found->second.size();
  }

  // Counts a request this uid starts now.
  void NoteStart(uid_t uid) {
    const auto now = std::chrono::steady_clock::now();
    std::deque<std::chrono::steady_clock::time_point>& starts = started_[uid];
    while (!starts.empty() && now - starts.front() > std::chrono::minutes(1)) starts.pop_front();
    starts.push_back(now);
    // Users with no start in the last minute are forgotten.
    for (auto it = started_.begin(); it != started_.end();) {
      it = !it->second.empty() && now - it->second.back() > std::chrono::minutes(1) ? started_.erase(it) : std::next(it);
    }
  }

  pid_t StartClient(Waiting client) {
    const pid_t pid = ::fork();
    if (pid < 0) {
      settings_.log(Error::FromErrno("fork for a client").message);
      Refuse(std::move(client.connection), "bangerd could not start the request (fork failed)");
      return -1;
    }
    if (pid > 0) return pid;
    // The client's process: the loop's fds closed, SIGTERM from the loop read as a stop.
    listener_.reset();
    waiting_.clear();
    const int flags = ::fcntl(client.connection.get(), F_GETFL);
    ::fcntl(client.connection.get(), F_SETFL, flags & ~O_NONBLOCK);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    UniqueFd stop_fd(::signalfd(-1, &stop, SFD_CLOEXEC | SFD_NONBLOCK));
    signals_.reset();
    ServeClient(std::move(client.connection), client.peer, settings_.config_path, stop_fd.get());
    ::_exit(0);
  }

  UniqueFd listener_;
  UniqueFd signals_;
  const ServerSettings& settings_;
  ServerLimits limits_;
  std::deque<Waiting> waiting_;
  std::map<pid_t, uid_t> running_;
  std::map<uid_t, uint64_t> per_uid_;
  std::map<uid_t, std::deque<std::chrono::steady_clock::time_point>> started_;
  std::chrono::steady_clock::time_point accept_again_{};
  bool stopping_ = false;
};

}  // namespace

Result<void> BlockLoopSignals() {
  const sigset_t signals = LoopSignals();
  if (::sigprocmask(SIG_BLOCK, &signals, nullptr) != 0) return Error::FromErrno("sigprocmask SIG_BLOCK");
  return {};
}

Result<void> Serve(UniqueFd listener, const ServerSettings& settings) {
  BANGER_TRY(BlockLoopSignals());
  BANGER_ASSIGN_OR_RETURN(ServerLimits limits, settings.load_limits());
  const sigset_t signals = LoopSignals();
  UniqueFd signal_fd(::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signal_fd) return Error::FromErrno("signalfd");
  if (::fcntl(listener.get(), F_SETFL, ::fcntl(listener.get(), F_GETFL) | O_NONBLOCK) != 0) {
    return Error::FromErrno("fcntl O_NONBLOCK on the listening socket");
  }
  ::signal(SIGPIPE, SIG_IGN);
  return Loop(std::move(listener), std::move(signal_fd), settings, limits).Run();
}

}  // namespace banger::broker
