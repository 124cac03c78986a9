#include "assets/agent/agent.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "assets/agent/http.h"
#include "assets/agent/listener.h"
#include "assets/agent/sandbox.h"
#include "banger_version.h"

namespace banger::agent {
namespace {

constexpr size_t kMaxClients = 8;         // more wait in the listen backlog
constexpr int64_t kClientTimeoutMs = 5000;  // from accept to the last byte of the answer
constexpr int64_t kLingerMs = 1000;         // reading what a client still sends after the answer
constexpr int kVsockRetrySeconds = 3;

int64_t NowMs() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// What /healthz reports. Everything is opened or read before the sandbox goes on: the
// uptime file stays open and is re-read with pread; the boot id never changes in a boot.
class Health {
 public:
  Health() {
    uptime_fd_.reset(::open("/proc/uptime", O_RDONLY | O_CLOEXEC));
    if (!uptime_fd_.valid()) {
      LogLine("note: /proc/uptime: " + ErrnoText(errno) + "; uptime_seconds comes from CLOCK_BOOTTIME");
    }
    int err = 0;
    const auto id = ReadSmallFile("/proc/sys/kernel/random/boot_id", 64, &err);
    if (!id) {
      LogLine("note: /proc/sys/kernel/random/boot_id: " + ErrnoText(err) + "; boot_id is null");
    } else if (std::string trimmed = id->substr(0, id->find('\n')); IsBootId(trimmed)) {
      boot_id_ = trimmed;
    } else {
      LogLine("note: boot_id is not a UUID; boot_id is null");
    }
  }

  std::string Json() const {
    std::string body = "{\"status\":\"ok\",\"uptime_seconds\":" + Uptime() + ",\"boot_id\":";
    body += boot_id_.empty() ? "null" : "\"" + boot_id_ + "\"";
    body += ",\"version\":\"" BANGER_VERSION "\"}\n";
    return body;
  }

 private:
  static bool IsBootId(const std::string& text) {
    if (text.size() != 36) return false;
    for (size_t i = 0; i < text.size(); ++i) {
      const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
      const char c = text[i];
      if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
  }

  // The first field of /proc/uptime ("12345.67"), or CLOCK_BOOTTIME (its source) if the
  // file is not there, as in an empty chroot.
  std::string Uptime() const {
    if (uptime_fd_.valid()) {
      char buffer[128];
      const ssize_t n = ::pread(uptime_fd_.get(), buffer, sizeof buffer - 1, 0);
      if (n > 0) {
        std::string_view text(buffer, static_cast<size_t>(n));
        text = text.substr(0, text.find(' '));
        const size_t dot = text.find('.');
        const bool digits_only = text.find_first_not_of("0123456789.") == std::string_view::npos;
        if (!text.empty() && digits_only && dot != 0 && dot != text.size() - 1 &&
            (dot == std::string_view::npos || text.find('.', dot + 1) == std::string_view::npos)) {
          return std::string(text);
        }
      }
    }
    timespec ts{};
    ::clock_gettime(CLOCK_BOOTTIME, &ts);
    char text[48];
    std::snprintf(text, sizeof text, "%lld.%02ld", static_cast<long long>(ts.tv_sec), ts.tv_nsec / 10000000);
    return text;
  }

  UniqueFd uptime_fd_;
  std::string boot_id_;
};

struct Client {
  enum class Phase { kReading, kWriting, kLingering };
  UniqueFd fd;
  Phase phase = Phase::kReading;
  std::string data;  // the request while reading, the response while writing
  size_t sent = 0;
  int64_t deadline = 0;
};

// Advances one client after poll said it is ready. Returns false when it is done.
bool Step(Client& client, const Health& health) {
  if (client.phase == Client::Phase::kWriting) {
    const ssize_t n = ::send(client.fd.get(), client.data.data() + client.sent, client.data.size() - client.sent,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    client.sent += static_cast<size_t>(n);
    if (client.sent < client.data.size()) return true;
    // Answered. Half-close and read what the client still sends, so closing does not
    // reset the connection before it has read the answer.
    ::shutdown(client.fd.get(), SHUT_WR);
    client.phase = Client::Phase::kLingering;
    client.deadline = NowMs() + kLingerMs;
    return true;
  }
  char buffer[4096];
  const size_t room = client.phase == Client::Phase::kReading ? kMaxRequestBytes - client.data.size() : sizeof buffer;
  const ssize_t n = ::recv(client.fd.get(), buffer, std::min(room, sizeof buffer), MSG_DONTWAIT);
  if (n < 0) return errno == EAGAIN || errno == EINTR;
  if (n == 0) return false;  // end of stream: an unfinished request is dropped
  if (client.phase == Client::Phase::kLingering) return true;
  client.data.append(buffer, static_cast<size_t>(n));
  switch (ScanRequest(client.data)) {
    case RequestState::kIncomplete:
      return true;
    case RequestState::kTooLarge:
      return false;
    case RequestState::kComplete:
      client.data = Respond(client.data, [&health] { return health.Json(); });
      client.phase = Client::Phase::kWriting;
      return Step(client, health);
  }
  return false;
}

[[noreturn]] void Serve(int listen_fd, const Health& health) {
  std::vector<std::unique_ptr<Client>> clients;
  bool accept_warned = false;
  for (;;) {
    pollfd fds[kMaxClients + 1];
    size_t count = 0;
    const bool full = clients.size() >= kMaxClients;  // the rest wait in the backlog
    fds[count++] = {full ? -1 : listen_fd, POLLIN, 0};
    int64_t next_deadline = -1;
    for (const auto& client : clients) {
      fds[count++] = {client->fd.get(), static_cast<short>(client->phase == Client::Phase::kWriting ? POLLOUT : POLLIN), 0};
      if (next_deadline < 0 || client->deadline < next_deadline) next_deadline = client->deadline;
    }
    const int timeout = next_deadline < 0 ? -1 : static_cast<int>(std::max<int64_t>(0, next_deadline - NowMs()));
    if (::poll(fds, count, timeout) < 0 && errno != EINTR) {
      LogError("poll: " + ErrnoText(errno));
      ::_exit(1);
    }

    const int64_t now = NowMs();
    for (size_t i = clients.size(); i-- > 0;) {
      const short revents = fds[i + 1].revents;
      bool keep = true;
      if (revents & (POLLIN | POLLOUT | POLLHUP | POLLERR)) keep = Step(*clients[i], health);
      if (revents & POLLNVAL) keep = false;
      if (keep && now >= clients[i]->deadline) keep = false;  // too slow: dropped
      if (!keep) clients.erase(clients.begin() + static_cast<ptrdiff_t>(i));
    }

    if (!(fds[0].revents & POLLIN)) continue;
    while (clients.size() < kMaxClients) {
      UniqueFd fd(::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (!fd.valid()) {
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED && !accept_warned) {
          LogLine("accept: " + ErrnoText(errno) + " (not logged again)");
          accept_warned = true;
        }
        break;
      }
      auto client = std::make_unique<Client>();
      client->fd = std::move(fd);
      client->deadline = now + kClientTimeoutMs;
      clients.push_back(std::move(client));
    }
  }
}

// Opens the listener, waiting while vsock is not there yet (no module, no device).
UniqueFd Listen(const ListenAddress& address) {
  bool waiting = false;
  for (;;) {
    ListenResult result = OpenListener(address);
    if (result.fd.valid()) {
      if (waiting) LogLine("vsock is available now");
      return std::move(result.fd);
    }
    if (!result.retry) {
      LogError(DescribeListener(address, -1) + ": " + result.error);
      return UniqueFd();
    }
    if (!waiting) {
      LogLine("vsock is not available yet (" + result.error + "); retrying every " +
              std::to_string(kVsockRetrySeconds) + " s");
      waiting = true;
    }
    timespec pause{kVsockRetrySeconds, 0};
    while (::nanosleep(&pause, &pause) != 0 && errno == EINTR) {
    }
  }
}

}  // namespace

int RunAgent(const std::vector<std::string>& args) {
  std::string listen_text = "vsock:" + std::to_string(kDefaultVsockPort);
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--listen" && i + 1 < args.size()) {
      listen_text = args[++i];
    } else if (args[i].starts_with("--listen=")) {
      listen_text = args[i].substr(9);
    } else {
      LogError("unknown argument '" + args[i] + "' (try --help)");
      return 2;
    }
  }
  std::string error;
  const auto address = ParseListenAddress(listen_text, &error);
  if (!address) {
    LogError(error);
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);

  UniqueFd listener = Listen(*address);
  if (!listener.valid()) return 1;
  const Health health;
  const std::string where = DescribeListener(*address, listener.get());  // getsockname: before the filter
  std::string summary;
  if (error = LockDown(listener.get(), &summary); !error.empty()) {
    LogError("sandbox: " + error);
    return 1;
  }
  LogLine("version " BANGER_VERSION " listening on " + where +
          " (sandboxed: " + summary + ")");
  Serve(listener.get(), health);
}

}  // namespace banger::agent
