#include "broker/host/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

#include "base/fd.h"

namespace banger::broker {
namespace {

// `name` on the PATH of `environment` (a default PATH without one); `name` itself when
// it is a path or found nowhere (posix_spawn then says so).
std::string FindOnPath(const std::string& name, const std::vector<std::string>& environment) {
  if (name.find('/') != std::string::npos) return name;
  std::string path = "/usr/local/bin:/usr/bin:/bin";
  for (const std::string& variable : environment) {
    if (variable.rfind("PATH=", 0) == 0) path = variable.substr(5);
  }
  for (size_t start = 0; start <= path.size();) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    const std::string dir = path.substr(start, end - start);
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return name;
}

}  // namespace

Result<ProcessOutput> RunProgram(const std::vector<std::string>& argv, const std::string& input, int timeout_ms,
                                 const std::vector<std::string>& environment, size_t max_output) {
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return Error::FromErrno("pipe2");
  UniqueFd in_r(in[0]), in_w(in[1]);
  if (::pipe2(out, O_CLOEXEC) != 0) return Error::FromErrno("pipe2");
  UniqueFd out_r(out[0]), out_w(out[1]);
  if (::pipe2(err, O_CLOEXEC) != 0) return Error::FromErrno("pipe2");
  UniqueFd err_r(err[0]), err_w(err[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_r.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, err_w.get(), 2);
  std::vector<char*> args, envp;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (const auto& e : environment) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const std::string program = FindOnPath(argv[0], environment);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, program.c_str(), &actions, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return Error::FromErrno("running " + argv[0], rc);
  in_r.reset();
  out_w.reset();
  err_w.reset();

  // A short input fits the pipe buffer; a program that exits without reading it is no
  // error of ours (EPIPE, with SIGPIPE ignored so that it cannot end banger).
  ::signal(SIGPIPE, SIG_IGN);
  (void)WriteAll(in_w.get(), input, "writing to " + argv[0]);
  in_w.reset();

  ProcessOutput result;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  bool timed_out = false;
  while (out_r || err_r) {
    pollfd fds[2] = {{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0 || ::poll(fds, 2, static_cast<int>(left)) == 0) {
      timed_out = true;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      UniqueFd& fd = i == 0 ? out_r : err_r;
      std::string& sink = i == 0 ? result.out : result.err;
      if (!fd || fds[i].revents == 0) continue;
      char buffer[4096];
      ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
      if (n <= 0) {
        fd.reset();
      } else if (sink.size() < max_output) {
        sink.append(buffer, static_cast<size_t>(n));
      }
    }
  }
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) return Error{ErrorCode::kTimeout, argv[0] + " did not finish within " + std::to_string(timeout_ms / 1000) + " s"};
  result.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace banger::broker
