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

bool FixtureProcess::Start(const std::vector<std::string>& args) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return false;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], 1);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  pid_ = pid;
  std::string line;
  pollfd pfd{out[0], POLLIN, 0};
  while (line.find('\n') == std::string::npos && ::poll(&pfd, 1, 40000) == 1) {
    char buffer[256];
    ssize_t n = ::read(out[0], buffer, sizeof buffer);
    if (n <= 0) break;
    line.append(buffer, static_cast<size_t>(n));
  }
  ::close(out[0]);
  if (line.find("ready port=") == std::string::npos) {
    ADD_FAILURE() << args[1] << " did not start: " << line;
    Stop();
    return false;
  }
  ready_line_ = line;
  return true;
}

int FixtureProcess::port() const {
  size_t at = ready_line_.find("ready port=");
  return at == std::string::npos ? 0 : std::stoi(ready_line_.substr(at + 11));
}

// A fixture that outlives its SIGTERM by 20 s is a fixture bug: named here, and killed,
// rather than left to hang the test until ctest's timeout says nothing useful.
void FixtureProcess::Stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  if (!WaitFor([&] { return ::waitpid(pid_, nullptr, WNOHANG) == pid_; }, 20000)) {
    ADD_FAILURE() << "fixture process " << pid_ << " (" << ready_line_.substr(0, ready_line_.find('\n'))
                  << ") did not stop within 20 s of SIGTERM";
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  pid_ = -1;
}

std::unique_ptr<TestRegistry> TestRegistry::Start(const Options& options) {
  std::unique_ptr<TestRegistry> registry(new TestRegistry());
  std::vector<std::string> args = {"/usr/bin/python3", FixturesDir() + "/registry.py", "--root", registry->root()};
  if (!options.htpasswd.empty()) args.insert(args.end(), {"--htpasswd", options.htpasswd});
  if (!options.token.empty()) args.insert(args.end(), {"--token", options.token});
  if (options.tls) args.push_back("--tls");
  args.insert(args.end(), {"--address", options.address});
  if (!registry->process_.Start(InNetns(options.netns, args))) return nullptr;
  registry->tls_ = options.tls;
  registry->host_ = options.address + ":" + std::to_string(registry->process_.port());
  return registry;
}

TestRegistry::~TestRegistry() { Stop(); }

void TestRegistry::Stop() { process_.Stop(); }

std::vector<std::string> InNetns(const std::string& netns, std::vector<std::string> argv) {
  if (!netns.empty()) argv.insert(argv.begin(), {"/usr/sbin/ip", "netns", "exec", netns});
  return argv;
}

std::unique_ptr<TestProxy> TestProxy::Start(const std::string& upstream, const std::vector<std::string>& flags,
                                            const std::string& netns, const std::string& address) {
  std::unique_ptr<TestProxy> proxy(new TestProxy());
  std::vector<std::string> args = {"/usr/bin/python3", FixturesDir() + "/proxy.py", "--upstream", upstream, "--log",
                                   proxy->dir_.path() + "/log.jsonl", "--address", address};
  args.insert(args.end(), flags.begin(), flags.end());
  proxy->address_ = address;
  if (!proxy->process_.Start(InNetns(netns, args))) return nullptr;
  return proxy;
}

std::vector<nlohmann::json> TestProxy::Log() const {
  std::vector<nlohmann::json> entries;
  std::ifstream in(dir_.path() + "/log.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) entries.push_back(nlohmann::json::parse(line));
  }
  return entries;
}

nlohmann::json TestRegistry::Push(const std::string& repo, const std::string& tag, const std::vector<std::string>& args,
                                  const std::string& user) {
  std::string command = "/usr/bin/python3 " + FixturesDir() + "/oci.py push --registry " + host_ + " --repo " + repo +
                        " --tag " + tag;
  for (const auto& a : args) command += " " + a;
  if (!user.empty()) command += " --user " + user;
  if (tls_) command += " --cafile " + root() + "/ca.crt";
  CommandResult r = RunCommand(command);
  if (r.exit_status != 0) {
    ADD_FAILURE() << "push failed: " << r.output;
    return nullptr;
  }
  return nlohmann::json::parse(r.output.substr(r.output.find('{')));
}

bool TestRegistry::PushLayout(const std::string& layout_dir, const std::string& layout_tag, const std::string& repo,
                              const std::string& tag) {
  std::string command = "skopeo copy --quiet --retry-times 2 ";
  command += tls_ ? "--dest-cert-dir " + root() + " " : "--dest-tls-verify=false ";
  command += "oci:" + layout_dir + ":" + layout_tag + " docker://" + host_ + "/" + repo + ":" + tag + " 2>&1";
  CommandResult r = RunCommand(command);
  if (r.exit_status != 0) ADD_FAILURE() << "skopeo push failed: " << r.output;
  return r.exit_status == 0;
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
