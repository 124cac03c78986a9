// The fixture of bangerd's e2e tests (docs/multi-tenant.md): the real daemon with a config
// and socket of its own, run with exactly the capability bounding set its service unit
// keeps; users and groups made for the test; the real registry; the CLI run as each user.
#pragma once

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "broker/host/service_files.h"
#include "tests/support/registry_fixture.h"
#include "tests/support/test_accounts.h"

namespace banger::testing {

// setpriv's --bounding-set for the capabilities the service unit keeps.
inline std::string BoundingSet() {
  std::string set = "-all";
  for (const char* capability : broker::kDaemonCapabilities) {
    std::string name = std::string(capability).substr(4);  // without CAP_
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    set += ",+" + name;
  }
  return set;
}

// The real bangerd in the foreground, with the capabilities its service unit leaves it
// (so the pulls below show that bounding set is enough), stopped with SIGTERM when the
// object goes.
class TestDaemon {
 public:
  TestDaemon(const std::string& config, const std::string& socket, const std::string& log, const std::string& env = "")
      : socket_(socket),
        process_("setpriv --bounding-set=" + BoundingSet() + " env " + env + " " BANGER_BIN_DIR "/bangerd --config " +
                     config + " --foreground",
                 log) {}
  ~TestDaemon() {
    ::kill(process_.pid(), SIGTERM);
    process_.Wait(60000);
  }
  // Once a connection to its socket succeeds.
  bool Ready() {
    return WaitFor([&] {
      UniqueFd probe(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
      sockaddr_un address{};
      address.sun_family = AF_UNIX;
      socket_.copy(address.sun_path, sizeof address.sun_path - 1);
      return ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
    }, 20000);
  }
  std::string Output() const { return process_.Output(); }
  pid_t pid() const { return process_.pid(); }

 private:
  std::string socket_;
  BackgroundCommand process_;
};

inline std::vector<nlohmann::json> JsonLines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line, nullptr, false));
  return out;
}

class Daemon : public ::testing::Test {
 protected:
  void SetUp() override {
    BANGER_REQUIRE_ROOT();
    registry_ = TestRegistry::Start();
    ASSERT_TRUE(registry_);
    pushed_ = registry_->Push("demo/app", "v1", {"--layers", "2"});
    ASSERT_FALSE(pushed_.is_null());
    const std::string socket_group = accounts_.Group("sock");
    const std::string tenants = accounts_.Group("tenants");
    const std::string admins = accounts_.Group("admins");
    alice_ = accounts_.User("alice", {socket_group});
    bob_ = accounts_.User("bob", {socket_group, tenants});
    erin_ = accounts_.User("erin", {socket_group, tenants});
    carol_ = accounts_.User("carol", {socket_group});
    dave_ = accounts_.User("dave", {socket_group, admins});
    ASSERT_FALSE(HasFailure());
    // The socket's directory and the client's copy are where every user may reach them.
    ASSERT_EQ(::chmod(dir_.path().c_str(), 0755), 0);
    ASSERT_EQ(::mkdir((dir_.path() + "/bin").c_str(), 0755), 0);
    client_ = CopyExecutable(BANGER_BIN_DIR "/banger", dir_.path() + "/bin");
    base_config_ = "state_dir = " + state_.path() + "\ncache_dir = " + cache_.path() + "\nsocket = " + socket_ +
                   "\nsocket_group = " + socket_group + "\nallow_users = " + alice_ + "\nallow_groups = " + tenants +
                   "\nadmin_group = " + admins + "\naudit_log = " + log_ + "\naudit_syslog = none\n";
    // The loopback registry is one the host names: tenants may reach it.
    WriteConfig("insecure_registries = " + registry_->host() + "\n");
    StartDaemon();
  }
  // The daemon reads its config anew for each request.
  void WriteConfig(const std::string& extra) { std::ofstream(config_, std::ios::trunc) << base_config_ << extra; }

  void StartDaemon(const std::string& env = "") {
    daemon_.reset();
    daemon_ = std::make_unique<TestDaemon>(config_, socket_, dir_.path() + "/bangerd.log", env);
    ASSERT_TRUE(daemon_->Ready()) << daemon_->Output();
  }

  std::string ClientCommand(const std::string& user, const std::string& args) {
    return TestAccounts::As(user, client_ + " " + args, "BANGER_HOST=unix://" + socket_);
  }
  CommandResult As(const std::string& user, const std::string& args) {
    return RunCommand(ClientCommand(user, args) + " 2>&1");
  }
  std::string Ref() const { return registry_->host() + "/demo/app:v1"; }
  std::vector<nlohmann::json> Records() { return JsonLines(ReadFile(log_)); }
  // The records of `request` by `uid`, in order.
  std::vector<nlohmann::json> RecordsOf(uid_t uid, const std::string& request) {
    std::vector<nlohmann::json> out;
    for (const nlohmann::json& record : Records()) {
      if (record.value("uid", -1) == static_cast<int>(uid) && record.value("request", "") == request) out.push_back(record);
    }
    return out;
  }

  // The daemon's side of the connections it holds (running or waiting): /proc/net/unix
  // names the socket's path on each, and only the listener is unconnected (state 01).
  size_t ServedConnections() const {
    std::ifstream table("/proc/net/unix");
    size_t count = 0;
    for (std::string line; std::getline(table, line);) {
      std::istringstream fields(line);
      std::string num, refs, protocol, flags, type, state, inode, path;
      if (fields >> num >> refs >> protocol >> flags >> type >> state >> inode >> path && path == socket_) {
        count += state == "03";
      }
    }
    return count;
  }

  // How many staging directories a tenant's pulls left ("N\n"; an error if it has no store).
  std::string StagingLeftBy(const std::string& user) {
    const std::string images = state_.path() + "/tenants/" + std::to_string(TestAccounts::Uid(user)) + "/images";
    return RunCommand("test -d " + images + " && find " + images + " -name '*.staging' | wc -l 2>&1").output;
  }

  // Processes named `comm` whose ancestors include the daemon.
  size_t DaemonDescendantsNamed(const std::string& comm) const {
    std::map<pid_t, pid_t> parent;
    std::map<pid_t, std::string> name;
    auto entries = ListDirectory("/proc");
    if (!entries) return 0;
    for (const std::string& entry : *entries) {
      if (entry.empty() || !std::isdigit(static_cast<unsigned char>(entry[0]))) continue;
      const std::string stat = ReadFile("/proc/" + entry + "/stat");
      const size_t open = stat.find('('), close = stat.rfind(')');
      if (open == std::string::npos || close == std::string::npos) continue;
      std::istringstream rest(stat.substr(close + 1));
      std::string state;
      pid_t ppid = 0;
      if (!(rest >> state >> ppid)) continue;
      const pid_t pid = std::stoi(entry);
      parent[pid] = ppid;
      name[pid] = stat.substr(open + 1, close - open - 1);
    }
    size_t count = 0;
    for (const auto& [pid, process] : name) {
      if (process != comm) continue;
      for (pid_t up = parent[pid]; up > 1; up = parent.count(up) ? parent[up] : 0) {
        if (up == daemon_->pid()) {
          ++count;
          break;
        }
      }
    }
    return count;
  }

  std::unique_ptr<TestRegistry> registry_;
  nlohmann::json pushed_;
  TestAccounts accounts_;
  std::string alice_, bob_, carol_, dave_, erin_;
  ScratchDir dir_{"banger-daemon"}, state_{"banger-state"}, cache_{"banger-cache"};
  std::string config_ = dir_.path() + "/config";
  std::string socket_ = dir_.path() + "/banger.sock";
  std::string log_ = dir_.path() + "/log/audit.log";
  std::string client_;
  std::string base_config_;
  std::unique_ptr<TestDaemon> daemon_;
};


}  // namespace banger::testing
