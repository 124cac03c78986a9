#include "broker/cli/daemon_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ostream>

#include "base/text.h"
#include "broker/cli/exit_codes.h"
#include "ipc/channel.h"
#include "ipc/daemon_protocol.h"
#include "security/stop_signal.h"

namespace banger::broker {
namespace {

constexpr const char* kUnixScheme = "unix://";

Result<UniqueFd> Connect(const std::string& path) {
  BANGER_ASSIGN_OR_RETURN(const sockaddr_un address, UnixSocketAddress(path, "bangerd's socket"));
  UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!fd) return Error::FromErrno("socket for bangerd");
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    return Error::FromErrno("cannot reach bangerd at " + path + ": connect");
  }
  // Credentials and files go only to root's daemon, whoever bound the path.
  ucred peer{};
  socklen_t length = sizeof(peer);
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0) {
    return Error::FromErrno("getsockopt SO_PEERCRED on bangerd's socket " + path);
  }
  if (peer.uid != 0) {
    return Error{ErrorCode::kInvalidArgument,
                 "the socket at " + path + " is not root's bangerd (its listener is uid " + std::to_string(peer.uid) + ")"};
  }
  return fd;
}

int Fail(std::ostream& err, const std::string& message) {
  err << "banger: error: " << TerminalSafe(message) << "\n";
  return kExitError;
}

// The file the daemon writes into: created by the client, as the client, beside its final
// path; renamed there once the request succeeded, removed otherwise.
class ClientFile {
 public:
  static Result<ClientFile> Create(const std::string& path) {
    std::string staged = path + ".banger-XXXXXX";
    UniqueFd fd(::mkostemp(staged.data(), O_CLOEXEC));
    if (!fd) return Error::FromErrno("creating " + path);
    const mode_t mask = ::umask(0);
    ::umask(mask);
    if (::fchmod(fd.get(), 0666 & ~mask) != 0) return Error::FromErrno("chmod " + staged);
    return ClientFile(path, std::move(staged), std::move(fd));
  }
  ClientFile(ClientFile&& other) noexcept
      : path_(std::move(other.path_)), staged_(std::exchange(other.staged_, "")), fd_(std::move(other.fd_)) {}
  ~ClientFile() {
    if (!staged_.empty()) ::unlink(staged_.c_str());
  }
  int fd() const { return fd_.get(); }
  Result<void> Publish(bool replace) {
    if (::renameat2(AT_FDCWD, staged_.c_str(), AT_FDCWD, path_.c_str(), replace ? 0 : RENAME_NOREPLACE) != 0) {
      if (errno == EEXIST) return Error{ErrorCode::kInvalidArgument, path_ + " exists (--force replaces it)"};
      return Error::FromErrno("rename to " + path_);
    }
    staged_.clear();
    return {};
  }

 private:
  ClientFile(std::string path, std::string staged, UniqueFd fd)
      : path_(std::move(path)), staged_(std::move(staged)), fd_(std::move(fd)) {}
  std::string path_, staged_;
  UniqueFd fd_;
};

}  // namespace

Result<std::optional<std::string>> DaemonSocketFor(const HostEnvironment& env, const Config& config) {
  if (!env.daemon_host.empty()) {
    if (env.daemon_host.rfind(kUnixScheme, 0) != 0 || env.daemon_host.size() <= std::strlen(kUnixScheme) ||
        env.daemon_host[std::strlen(kUnixScheme)] != '/') {
      return Error{ErrorCode::kInvalidArgument,
                   "BANGER_HOST wants unix:///path/to/banger.sock, not '" + env.daemon_host + "'"};
    }
    return std::optional<std::string>(env.daemon_host.substr(std::strlen(kUnixScheme)));
  }
  struct stat st;
  if (config.socket.empty() || ::stat(config.socket.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) {
    return std::optional<std::string>();
  }
  return std::optional<std::string>(config.socket);
}

int RunThroughDaemon(const std::string& socket, const std::vector<std::string>& args, const HostEnvironment& env,
                     ClientRequestExtras extras, std::ostream& out, std::ostream& err, std::ostream& relayed_err) {
  std::optional<ClientFile> file;
  if (!extras.out_file.empty()) {
    struct stat st {};
    if (!extras.replace_out && ::lstat(extras.out_file.c_str(), &st) == 0) {
      return Fail(err, extras.out_file + " exists (--force replaces it)");
    }
    auto created = ClientFile::Create(extras.out_file);
    if (!created) return Fail(err, created.error().message);
    file.emplace(std::move(*created));
  }
  auto connected = Connect(socket);
  if (!connected) return Fail(err, connected.error().message);
  ipc::Channel daemon(std::move(*connected), "bangerd");
  ipc::DaemonRequest request{args, env.stdout_terminal, env.terminal_columns,
                             std::move(extras.credentials)};
  ipc::Message message = ipc::Message::Make(ipc::MessageType::kDaemonRequest, ipc::Encode(request));
  if (file) {
    auto passed = DupCloexec(file->fd());
    if (!passed) return Fail(err, passed.error().message);
    message.fds.push_back(std::move(*passed));
  }
  // A daemon that refuses a client does not wait for its request: when the send fails,
  // its answer may be here already.
  auto sent = daemon.Send(message);
  security::InstallStopSignals();
  bool cancelled = false;
  for (;;) {
    pollfd waits[2] = {{daemon.fd(), POLLIN, 0}, {security::StopFd(), POLLIN, 0}};
    if (::poll(waits, cancelled ? 1 : 2, -1) < 0) {
      if (errno == EINTR) continue;
      return Fail(err, Error::FromErrno("poll on bangerd's socket").message);
    }
    if (!cancelled && (waits[1].revents & POLLIN) != 0) {
      // The daemon stops the request and still says how it ended.
      cancelled = true;
      (void)daemon.Send(ipc::Message::Make(ipc::MessageType::kDaemonCancel, ipc::Encode(ipc::DaemonCancel{})));
      continue;
    }
    if (waits[0].revents == 0) continue;
    auto message = daemon.ReceiveExpecting(
        {ipc::MessageType::kDaemonStdout, ipc::MessageType::kDaemonStderr, ipc::MessageType::kDaemonExit});
    if (!message) {
      if (!sent) return Fail(err, "sending the request to bangerd at " + socket + ": " + sent.error().message);
      return Fail(err, "bangerd at " + socket + " ended the request without an exit status: " + message.error().message);
    }
    if (message->type == ipc::MessageType::kDaemonExit) {
      auto exit = ipc::Decode<ipc::DaemonExit>(message->body);
      if (!exit) return Fail(err, "bangerd at " + socket + ": " + exit.error().message);
      if (exit->status == 0 && file) {
        if (auto published = file->Publish(extras.replace_out); !published) return Fail(err, published.error().message);
      }
      return static_cast<int>(exit->status);
    }
    std::ostream& stream = message->type == ipc::MessageType::kDaemonStdout ? out : relayed_err;
    stream.write(message->body.data(), static_cast<std::streamsize>(message->body.size()));
    stream.flush();
  }
}

}  // namespace banger::broker
