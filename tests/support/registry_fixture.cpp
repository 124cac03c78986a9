#include "tests/support/registry_fixture.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace banger::testing {

std::string FixturesDir() { return std::string(BANGER_SOURCE_DIR) + "/tests/fixtures"; }

std::unique_ptr<TestRegistry> TestRegistry::Start(const Options& options) {
  std::unique_ptr<TestRegistry> registry(new TestRegistry());
  std::vector<std::string> args = {"/usr/bin/python3", FixturesDir() + "/registry.py", "--root", registry->root()};
  if (!options.htpasswd.empty()) args.insert(args.end(), {"--htpasswd", options.htpasswd});
  if (!options.token.empty()) args.insert(args.end(), {"--token", options.token});
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return nullptr;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], 1);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  registry->pid_ = pid;
  std::string line;
  pollfd pfd{out[0], POLLIN, 0};
  while (line.find('\n') == std::string::npos && ::poll(&pfd, 1, 40000) == 1) {
    char buffer[256];
    ssize_t n = ::read(out[0], buffer, sizeof buffer);
    if (n <= 0) break;
    line.append(buffer, static_cast<size_t>(n));
  }
  ::close(out[0]);
  size_t at = line.find("ready port=");
  if (at == std::string::npos) {
    ADD_FAILURE() << "the test registry did not start (is docker-registry installed?): " << line;
    return nullptr;
  }
  registry->host_ = "127.0.0.1:" + std::to_string(std::stoi(line.substr(at + 11)));
  return registry;
}

TestRegistry::~TestRegistry() { Stop(); }

void TestRegistry::Stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

nlohmann::json TestRegistry::Push(const std::string& repo, const std::string& tag, const std::vector<std::string>& args,
                                  const std::string& user) {
  std::string command = "/usr/bin/python3 " + FixturesDir() + "/oci.py push --registry " + host_ + " --repo " + repo +
                        " --tag " + tag;
  for (const auto& a : args) command += " " + a;
  if (!user.empty()) command += " --user " + user;
  CommandResult r = RunCommand(command);
  if (r.exit_status != 0) {
    ADD_FAILURE() << "push failed: " << r.output;
    return nullptr;
  }
  return nlohmann::json::parse(r.output.substr(r.output.find('{')));
}

void TestRegistry::Tamper(const std::string& digest) {
  CommandResult r = RunCommand("/usr/bin/python3 " + FixturesDir() + "/oci.py tamper --root " + root() +
                               "/data --digest " + digest);
  EXPECT_EQ(r.exit_status, 0) << r.output;
}

int TestRegistry::CountInLog(const std::string& needle) const {
  std::ifstream in(root() + "/registry.log");
  std::stringstream text;
  text << in.rdbuf();
  const std::string log = text.str();
  int count = 0;
  for (size_t at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) ++count;
  return count;
}

}  // namespace banger::testing
