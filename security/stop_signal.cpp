#include "security/stop_signal.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

namespace banger::security {
namespace {

int g_pipe[2] = {-1, -1};
std::atomic<int> g_signal{0};

void OnStopSignal(int signo) {
  const int saved = errno;
  int expected = 0;
  g_signal.compare_exchange_strong(expected, signo);
  const char byte = 1;
  (void)!::write(g_pipe[1], &byte, 1);
  errno = saved;
}

}  // namespace

void InstallStopSignals() {
  if (g_pipe[0] >= 0) return;
  if (::pipe2(g_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return;
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &action, nullptr);
  ::sigaction(SIGTERM, &action, nullptr);
}

int StopFd() { return g_pipe[0]; }

int StopSignal() { return g_signal.load(); }

const char* StopReason() {
  switch (g_signal.load()) {
    case SIGINT: return "interrupted by SIGINT";
    case SIGTERM: return "stopped by SIGTERM";
    default: return "stopped";
  }
}

}  // namespace banger::security
