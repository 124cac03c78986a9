// bangerd: banger's broker as a service on a unix socket (docs/multi-tenant.md). It runs
// each client's command as root's banger would, for the user the kernel names, under the
// config's policy, and records every request in the audit log.
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "banger_version.h"
#include "base/text.h"
#include "broker/daemon/listener.h"
#include "broker/daemon/server.h"
#include "broker/host/config.h"

namespace banger::broker {
namespace {

constexpr const char* kUsage =
    "usage: bangerd [--config FILE] [--foreground]\n"
    "\n"
    "bangerd serves banger's commands on a unix socket to the users the config allows\n"
    "(docs/multi-tenant.md). It must run as root.\n"
    "\n"
    "  --config FILE   the config (default: $BANGER_CONFIG, else /etc/banger/config);\n"
    "                  its socket, socket_group, allow_users, allow_groups, admin_group,\n"
    "                  max_requests and tenant_max_requests are the daemon's keys\n"
    "  --foreground    stay in the foreground (under systemd or OpenRC); without it,\n"
    "                  bangerd detaches once its socket listens\n"
    "\n"
    "The socket the service manager passes (socket activation) is used when there is one.\n"
    "SIGHUP re-reads the config for the accept loop (who is admitted, requests at once\n"
    "and a minute); every request reads the config anew for the rest.\n"
    "SIGTERM stops the requests in progress (nothing is published) and ends.\n";

std::string Getenv(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

void Log(const std::string& line) { std::cerr << "bangerd: " << TerminalSafe(line) << std::endl; }

// Detaches once the socket listens: the parent exits 0 when the child says it is ready.
Result<void> Detach() {
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) return Error::FromErrno("pipe");
  const pid_t pid = ::fork();
  if (pid < 0) return Error::FromErrno("fork to detach");
  if (pid > 0) {
    ::close(ready[1]);
    char byte = 0;
    const bool started = ::read(ready[0], &byte, 1) == 1;
    ::_exit(started ? 0 : 1);
  }
  ::close(ready[0]);
  if (::setsid() < 0) return Error::FromErrno("setsid");
  if (::chdir("/") != 0) return Error::FromErrno("chdir /");
  // Nothing of the terminal that started it: requests are not to read or write it.
  const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0) return Error::FromErrno("open /dev/null");
  for (int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) ::dup2(null, fd);
  ::close(null);
  const char byte = 1;
  (void)!::write(ready[1], &byte, 1);
  ::close(ready[1]);
  return {};
}

int Run(const std::vector<std::string>& args) {
  // First of all: a socket-activated unit's socket listens, and `systemctl reload` may
  // send SIGHUP, before bangerd has read its config; from here every such signal waits
  // for the loop.
  if (auto blocked = BlockLoopSignals(); !blocked) {
    std::cerr << "bangerd: error: " << TerminalSafe(blocked.error().message) << "\n";
    return 1;
  }
  std::string config_path = Getenv("BANGER_CONFIG");
  bool foreground = false;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (args[i] == "--version") {
      std::cout << "bangerd " << BANGER_VERSION << "\n";
      return 0;
    } else if (args[i] == "--foreground") {
      foreground = true;
    } else if (args[i] == "--config" && i + 1 < args.size()) {
      config_path = args[++i];
    } else if (args[i].rfind("--config=", 0) == 0) {
      config_path = args[i].substr(std::strlen("--config="));
    } else {
      std::cerr << "bangerd: error: unknown argument '" << TerminalSafe(args[i]) << "'\n" << kUsage;
      return 2;
    }
  }
  if (::geteuid() != 0) {
    std::cerr << "bangerd: error: bangerd must run as root (it is banger's broker)\n";
    return 1;
  }
  if (config_path.empty()) config_path = kDefaultConfigPath;
  if (config_path[0] != '/') {
    std::cerr << "bangerd: error: --config wants an absolute path, not '" << TerminalSafe(config_path) << "'\n";
    return 2;
  }
  auto config = LoadConfigFrom(config_path);
  if (!config) {
    std::cerr << "bangerd: error: " << TerminalSafe(config.error().message) << "\n";
    return 1;
  }
  auto inherited = InheritedListener(Getenv("LISTEN_PID"), Getenv("LISTEN_FDS"));
  if (!inherited) {
    std::cerr << "bangerd: error: " << TerminalSafe(inherited.error().message) << "\n";
    return 1;
  }
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  UniqueFd listener;
  if (*inherited) {
    listener = std::move(**inherited);
  } else {
    auto bound = BindListener(config->socket, config->socket_group);
    if (!bound) {
      std::cerr << "bangerd: error: " << TerminalSafe(bound.error().message) << "\n";
      return 1;
    }
    listener = std::move(*bound);
  }
  if (!foreground) {
    if (auto detached = Detach(); !detached) {
      std::cerr << "bangerd: error: " << TerminalSafe(detached.error().message) << "\n";
      return 1;
    }
  }
  Log("serving " + (*inherited ? std::string("the socket the service manager passed") : config->socket) +
      " with " + config_path);
  ServerSettings settings;
  settings.config_path = config_path;
  settings.log = Log;
  settings.load_limits = [config_path]() -> Result<ServerLimits> {
    // The same root-only file every request reads.
    BANGER_ASSIGN_OR_RETURN(Config now, LoadConfigFrom(config_path));
    return ServerLimits{now.max_requests, now.tenant_max_requests, now};
  };
  if (auto served = Serve(std::move(listener), settings); !served) {
    Log("error: " + served.error().message);
    return 1;
  }
  // A socket bangerd bound goes with it (a service manager's stays the manager's).
  if (!*inherited) ::unlink(config->socket.c_str());
  Log("stopped");
  return 0;
}

}  // namespace
}  // namespace banger::broker

// The one catch of the daemon's loop: a library that throws ends it with one line.
int main(int argc, char** argv) {
  try {
    return banger::broker::Run(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    std::cerr << "bangerd: internal error: " << e.what() << "\n";
    return 1;
  } catch (...) {
    std::cerr << "bangerd: internal error\n";
    return 1;
  }
}
