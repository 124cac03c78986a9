// bangerd with real tenants (docs/multi-tenant.md): the fixture starts the real daemon
// with a config and socket of its own, makes users and groups, and runs the CLI as each
// user against the real registry. Identity comes from the kernel; the policy admits,
// refuses and limits by user and group; each tenant has images of their own; every
// request is in the audit log under the caller's uid; Ctrl-C in a client cancels its pull
// in the daemon, and a client killed mid-pull leaves the daemon serving.
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <fstream>
#include <map>
#include <memory>
#include <set>
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
namespace {

using nlohmann::json;

// setpriv's --bounding-set for the capabilities the service unit keeps.
std::string BoundingSet() {
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

std::vector<json> JsonLines(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(json::parse(line, nullptr, false));
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
  std::vector<json> Records() { return JsonLines(ReadFile(log_)); }
  // The records of `request` by `uid`, in order.
  std::vector<json> RecordsOf(uid_t uid, const std::string& request) {
    std::vector<json> out;
    for (const json& record : Records()) {
      if (record.value("uid", -1) == static_cast<int>(uid) && record.value("request", "") == request) out.push_back(record);
    }
    return out;
  }

  std::unique_ptr<TestRegistry> registry_;
  json pushed_;
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

TEST_F(Daemon, TenantsPullImagesOfTheirOwnAndEachRequestIsAuditedUnderTheirUid) {
  CommandResult alice = As(alice_, "image pull -q " + Ref());
  ASSERT_EQ(alice.exit_status, 0) << alice.output << daemon_->Output();
  // The same default name for bob: names are per tenant.
  CommandResult bob = As(bob_, "image pull " + Ref());
  ASSERT_EQ(bob.exit_status, 0) << bob.output;
  EXPECT_NE(bob.output.find("pulled app-v1"), std::string::npos) << bob.output;

  EXPECT_EQ(RunCommand("stat -c %a " + state_.path() + "/tenants/" + std::to_string(TestAccounts::Uid(alice_))).output,
            "700\n");
  CommandResult removed = As(bob_, "image rm app-v1");
  EXPECT_EQ(removed.exit_status, 0) << removed.output;
  EXPECT_EQ(As(bob_, "image list").output.find("app-v1"), std::string::npos) << "bob's image is gone";
  CommandResult listed = As(alice_, "image list --json");
  EXPECT_NE(listed.output.find("app-v1"), std::string::npos) << "alice's is not: " << listed.output;

  // Each request: one start and one end under the caller's uid, with what it resolved.
  const std::string digest = pushed_["images"]["linux/amd64"]["manifest_digest"];
  for (const auto& [user, request] : {std::pair{alice_, "image pull"}, {bob_, "image pull"}, {bob_, "image rm"}}) {
    const std::vector<json> records = RecordsOf(TestAccounts::Uid(user), request);
    ASSERT_EQ(records.size(), 2u) << user << " " << request << "\n" << ReadFile(log_);
    EXPECT_EQ(records[0]["event"], "start");
    EXPECT_EQ(records[1]["event"], "end");
    EXPECT_EQ(records[0]["id"], records[1]["id"]);
    EXPECT_EQ(records[1]["result"], "ok");
    EXPECT_EQ(records[0]["user"], user);
    EXPECT_EQ(records[0]["via"], "bangerd");
    EXPECT_EQ(records[0]["admin"], false);
    EXPECT_NE(records[0].value("peer_command", "").find("banger"), std::string::npos) << records[0].dump();
    if (std::string(request) == "image pull") {
      EXPECT_EQ(records[1]["manifest_digest"], digest);
    }
  }
  CommandResult verified = RunCommand(BANGER_BIN_DIR "/banger system audit verify " + log_ + " 2>&1");
  EXPECT_EQ(verified.exit_status, 0) << verified.output;
}

TEST_F(Daemon, ServesOnlyThoseThePolicyAdmitsAndKeepsTenantsWithinTheHostsPolicy) {
  // In the socket's group but admitted by neither list: refused, by name, and recorded.
  CommandResult carol = As(carol_, "image list");
  EXPECT_EQ(carol.exit_status, 1) << carol.output;
  EXPECT_NE(carol.output.find("banger: error: user '" + carol_ + "' (uid " +
                              std::to_string(TestAccounts::Uid(carol_)) + ") may not use bangerd"),
            std::string::npos)
      << carol.output;
  const std::vector<json> refused = RecordsOf(TestAccounts::Uid(carol_), "connect");
  ASSERT_EQ(refused.size(), 1u) << ReadFile(log_);
  EXPECT_EQ(refused[0]["event"], "refused");
  // The loop reads nothing of a peer's memory: the kernel's name of the process.
  EXPECT_EQ(refused[0].value("peer_command", ""), "banger") << refused[0].dump();
  // More refusals within ten seconds are counted into the next record, not one each.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(As(carol_, "image list").exit_status, 1);
  EXPECT_EQ(RecordsOf(TestAccounts::Uid(carol_), "connect").size(), 1u) << ReadFile(log_);
  // Outside the socket's group, the kernel refuses the connection.
  CommandResult outsider = As(accounts_.User("outsider"), "image list");
  EXPECT_EQ(outsider.exit_status, 1);
  EXPECT_NE(outsider.output.find("cannot reach bangerd at " + socket_ + ": connect: Permission denied"),
            std::string::npos)
      << outsider.output;

  // What would make root open a tenant's path or widen the host's bounds is refused.
  const struct {
    std::string args, says;
  } widening[] = {
      {"image pull --catalog /etc/shadow " + Ref(), "--catalog is for admins"},
      {"image pull --limit max_entries=99999999999 " + Ref(), "--limit is for admins"},
      {"image pull --insecure-registry evil.example:5000 evil.example:5000/x:1", "--insecure-registry evil.example:5000 is for admins"},
      {"image cache prune", "'image cache prune' is for admins"},
      // "-h" as a flag's value is no request for help: the policy still holds.
      {"image pull --catalog /etc/shadow --platform -h " + Ref(), "--catalog is for admins"},
      // The client creates --out as the tenant: root opens no path a tenant names.
      {"image bundle app-v1 --out " + dir_.path() + "/x --url -h", "creating " + dir_.path() + "/x"},
      // Never through the daemon: it runs where it is typed, as its user.
      {"system install", "system install needs root"},
  };
  for (const auto& w : widening) {
    CommandResult result = As(alice_, w.args);
    EXPECT_EQ(result.exit_status, 1) << w.args << ": " << result.output;
    EXPECT_NE(result.output.find("banger: error: " + w.says), std::string::npos) << w.args << ": " << result.output;
  }
  EXPECT_EQ(RecordsOf(TestAccounts::Uid(alice_), "image pull").size(), 4u) << "each refusal is recorded";
  EXPECT_FALSE(::access((dir_.path() + "/x").c_str(), F_OK) == 0);
  EXPECT_EQ(As(alice_, "image list").output.find("app-v1"), std::string::npos) << "nothing was pulled";
  // An admin may.
  CommandResult pruned = As(dave_, "image cache prune");
  EXPECT_EQ(pruned.exit_status, 0) << pruned.output;
  CommandResult limited = As(dave_, "image pull -q --limit max_entries=100000 " + Ref());
  EXPECT_EQ(limited.exit_status, 0) << limited.output;
  const std::vector<json> admin = RecordsOf(TestAccounts::Uid(dave_), "image pull");
  ASSERT_EQ(admin.size(), 2u);
  EXPECT_EQ(admin[0]["admin"], true);
}

// A tenant cannot aim root's fetcher at the host's loopback or its networks by naming a
// registry there: only a registry the host's config names, or a range its egress_allow
// lists, is reachable. An admin may, as root's banger may.
TEST_F(Daemon, ATenantReachesAHostAddressOnlyWhenTheConfigNamesIt) {
  WriteConfig("");
  CommandResult refused = As(alice_, "image pull -q " + Ref());
  EXPECT_EQ(refused.exit_status, 1) << refused.output;
  EXPECT_NE(refused.output.find("refusing to connect to " + registry_->host() + " at 127.0.0.1 (loopback): a tenant's pull"),
            std::string::npos)
      << refused.output;
  EXPECT_EQ(As(alice_, "image list").output.find("app-v1"), std::string::npos) << "nothing was published";
  CommandResult admin = As(dave_, "image pull -q " + Ref());
  EXPECT_EQ(admin.exit_status, 0) << admin.output;
  WriteConfig("egress_allow = 127.0.0.0/8\n");
  CommandResult allowed = As(alice_, "image pull -q " + Ref());
  EXPECT_EQ(allowed.exit_status, 0) << allowed.output;
}

// Each tenant's limits from the config: the registries and repositories it may pull from,
// the images it may hold, and the requests it may make a minute; each refusal is one line
// and one audit record.
TEST_F(Daemon, TenantLimitsHoldRegistriesImagesAndRequestRate) {
  const std::string host = registry_->host();
  ASSERT_FALSE(registry_->Push("other/app", "v1", {"--layers", "1"}).is_null());
  WriteConfig("insecure_registries = " + host + "\ntenant_registries = " + host + "/demo/*\n" +
              "tenant." + alice_ + ".max_images = 1\ntenant.@" + accounts_.GroupName("tenants") +
              ".requests_per_minute = 4\ntenant." + erin_ + ".max_bytes = 1M\ntenant." + erin_ +
              ".requests_per_minute = 100\n");
  // The accept loop applies rates and concurrency from the config it read last.
  ASSERT_EQ(::kill(daemon_->pid(), SIGHUP), 0);
  ASSERT_TRUE(WaitFor([&] { return daemon_->Output().find("SIGHUP: reloaded the config") != std::string::npos; }, 10000));
  ASSERT_EQ(As(alice_, "image pull -q " + Ref()).exit_status, 0);
  CommandResult second = As(alice_, "image pull -q --name second " + Ref());
  EXPECT_EQ(second.exit_status, 1) << second.output;
  EXPECT_NE(second.output.find("banger: error: " + alice_ + " holds 1 image(s), the most tenant_max_images allows"),
            std::string::npos)
      << second.output;
  CommandResult elsewhere = As(alice_, "image fetch " + host + "/other/app:v1");
  EXPECT_EQ(elsewhere.exit_status, 1) << elsewhere.output;
  EXPECT_NE(elsewhere.output.find("banger: error: " + alice_ + " may pull only from " + host + "/demo/*, not " + host +
                                  "/other/app"),
            std::string::npos)
      << elsewhere.output;
  // erin may hold 1 MiB: --size beyond it is refused, and once an image holds it, any pull.
  CommandResult sized = As(erin_, "image pull -q --size 2M " + Ref());
  EXPECT_EQ(sized.exit_status, 1) << sized.output;
  EXPECT_NE(sized.output.find("of the 1.0 MiB tenant_max_bytes allows, and --size asks for 2.0 MiB"), std::string::npos)
      << sized.output;
  ASSERT_EQ(As(erin_, "image pull -q " + Ref()).exit_status, 0);
  CommandResult full = As(erin_, "image pull -q --name again " + Ref());
  EXPECT_EQ(full.exit_status, 1) << full.output;
  EXPECT_NE(full.output.find("banger: error: " + erin_ + "'s images hold "), std::string::npos) << full.output;
  // bob's group may make four requests a minute; the fifth is refused, and recorded.
  for (int i = 0; i < 4; ++i) EXPECT_EQ(As(bob_, "image list").exit_status, 0) << i;
  CommandResult fifth = As(bob_, "image list");
  EXPECT_EQ(fifth.exit_status, 1) << fifth.output;
  EXPECT_NE(fifth.output.find("banger: error: " + bob_ + " made more than 4 requests in the last minute"),
            std::string::npos)
      << fifth.output;
  EXPECT_EQ(As(alice_, "image list").exit_status, 0) << "alice is not in bob's group";
  EXPECT_EQ(RecordsOf(TestAccounts::Uid(bob_), "connect").size(), 1u) << ReadFile(log_);
  size_t refused = 0;
  for (const json& record : RecordsOf(TestAccounts::Uid(alice_), "image pull")) refused += record["event"] == "refused";
  EXPECT_EQ(refused, 1u) << ReadFile(log_);
}

// Root's own banger with a docker config of its own, on the daemon's cache and state.
CommandResult RootWithCredentials(const std::string& config, const std::string& docker_dir, const std::string& registry,
                                  const std::string& args) {
  ::mkdir(docker_dir.c_str(), 0700);
  std::ofstream(docker_dir + "/config.json")
      << R"({"auths": {")" << registry << R"(": {"auth": ")" << RunCommand("printf %s u:p | base64 -w0").output
      << R"("}}})";
  return RunCommand("env BANGER_CONFIG=" + config + " DOCKER_CONFIG=" + docker_dir + " " BANGER_BIN_DIR "/banger " +
                    args + " 2>&1");
}

// What root's pulls brought into the shared cache reaches a tenant only through the
// registry: a private repository's cached plan and blobs serve no tenant the registry
// refuses (by tag or by digest); a tenant downloads again what root fetched, with
// credentials or without; what a tenant's anonymous fetch brought in is shared.
TEST_F(Daemon, WhatACredentialedPullCachedReachesATenantOnlyThroughTheRegistry) {
  auto secret = TestRegistry::Start({.htpasswd = "u:p"});
  ASSERT_TRUE(secret);
  const json pushed = secret->Push("private/app", "v1", {}, "u:p");
  ASSERT_FALSE(pushed.is_null());
  WriteConfig("insecure_registries = " + registry_->host() + ", " + secret->host() + "\n");
  const std::string docker = dir_.path() + "/docker";
  CommandResult root = RootWithCredentials(config_, docker, secret->host(), "image pull -q " + secret->host() + "/private/app:v1");
  ASSERT_EQ(root.exit_status, 0) << root.output;
  const std::string digest = pushed["images"]["linux/amd64"]["manifest_digest"];
  for (const std::string& ref : {secret->host() + "/private/app:v1", secret->host() + "/private/app@" + digest}) {
    CommandResult tenant = As(alice_, "image pull -q --name stolen " + ref);
    EXPECT_NE(tenant.exit_status, 0) << ref << ": " << tenant.output;
    EXPECT_NE(tenant.output.find("unauthorized"), std::string::npos) << ref << ": " << tenant.output;
  }
  EXPECT_EQ(As(alice_, "image list").output.find("stolen"), std::string::npos);

  // The same image's blobs, once with credentials (marked), once without.
  ASSERT_FALSE(registry_->Push("demo/other", "v1", {"--layers", "2", "--seed", "7"}).is_null());
  ASSERT_EQ(RootWithCredentials(config_, docker, registry_->host(), "image fetch -q " + Ref()).exit_status, 0);
  ASSERT_EQ(RunCommand("env BANGER_CONFIG=" + config_ + " DOCKER_CONFIG=" + dir_.path() + " " BANGER_BIN_DIR
                       "/banger image fetch -q " + registry_->host() + "/demo/other:v1").exit_status, 0);
  ASSERT_EQ(As(alice_, "image fetch -q " + Ref()).exit_status, 0);
  ASSERT_EQ(As(alice_, "image fetch -q " + registry_->host() + "/demo/other:v1").exit_status, 0);
  ASSERT_EQ(As(bob_, "image fetch -q " + registry_->host() + "/demo/other:v1").exit_status, 0);
  const std::vector<json> fetches = RecordsOf(TestAccounts::Uid(alice_), "image fetch");
  ASSERT_EQ(fetches.size(), 4u) << ReadFile(log_);
  EXPECT_GT(fetches[1].value("downloaded_bytes", uint64_t{0}), 0u) << "the credentialed blobs came again: " << fetches[1].dump();
  EXPECT_GT(fetches[3].value("downloaded_bytes", uint64_t{0}), 0u) << "root's anonymous ones too: " << fetches[3].dump();
  const std::vector<json> bobs = RecordsOf(TestAccounts::Uid(bob_), "image fetch");
  ASSERT_EQ(bobs.size(), 2u) << ReadFile(log_);
  EXPECT_EQ(bobs[1].value("downloaded_bytes", uint64_t{1}), 0u) << "what alice's anonymous fetch brought is shared: "
                                                                << bobs[1].dump();
}

// The same command gives the same output and exit status through the daemon as run
// directly by the same config (here root's, both ways), and a helper killed mid-pull
// fails that request alone (exit 3, naming it) while the daemon keeps serving.
TEST_F(Daemon, OutputAndExitStatusAreTheCommandsAndAHelperThatDiesEndsItsRequestOnly) {
  ASSERT_EQ(RunCommand("env BANGER_CONFIG=" + config_ + " " BANGER_BIN_DIR "/banger image pull -q " + Ref()).exit_status, 0);
  const std::string direct = "env BANGER_CONFIG=" + config_ + " " BANGER_BIN_DIR "/banger ";
  const std::string through = "env BANGER_CONFIG=" + config_ + " BANGER_HOST=unix://" + socket_ + " " BANGER_BIN_DIR "/banger ";
  for (const std::string& args : {std::string("image list --json"), std::string("image inspect app-v1"),
                                  std::string("image inspect nosuch"), std::string("image pull --nosuchflag x"),
                                  std::string("image list --help")}) {
    CommandResult a = RunCommand(direct + args + " 2>&1"), b = RunCommand(through + args + " 2>&1");
    EXPECT_EQ(a.exit_status, b.exit_status) << args;
    EXPECT_EQ(a.output, b.output) << args;
  }
  CommandResult pulled = RunCommand(through + "image pull --json --name j " + Ref() + " 2>/dev/null");
  EXPECT_EQ(pulled.exit_status, 0) << pulled.output;
  EXPECT_EQ(LastJsonLine(pulled.output).value("name", ""), "j") << pulled.output;

  const std::string stall = dir_.path() + "/stall";
  StartDaemon("BANGER_TEST_STALL=" + stall);
  BackgroundCommand held(ClientCommand(alice_, "image pull -q --name held " + Ref()), dir_.path() + "/held.out");
  ASSERT_TRUE(WaitFor([&] { return ::access(stall.c_str(), F_OK) == 0; }, 60000)) << held.Output();
  const auto helpers = StalledHelpers(stall);
  ASSERT_TRUE(helpers.count("banger-unpacker")) << ReadFile(stall);
  ASSERT_EQ(::kill(helpers.at("banger-unpacker"), SIGKILL), 0);
  ::unlink(stall.c_str());
  EXPECT_EQ(held.Wait(60000), 3) << held.Output();
  EXPECT_NE(held.Output().find("banger-unpacker"), std::string::npos) << held.Output();
  CommandResult after = As(alice_, "image list");
  EXPECT_EQ(after.exit_status, 0) << after.output << daemon_->Output();
  EXPECT_EQ(after.output.find("held"), std::string::npos) << "nothing was published";
}

// A tenant's requests beyond its max_requests wait for its running ones; other tenants'
// do not wait for them.
TEST_F(Daemon, ATenantsRequestsBeyondItsMaxRequestsWaitTheirTurn) {
  WriteConfig("insecure_registries = " + registry_->host() + "\ntenant." + bob_ + ".max_requests = 1\n");
  const std::string stall = dir_.path() + "/stall";
  StartDaemon("BANGER_TEST_STALL=" + stall);  // the loop reads the bounds when it starts
  BackgroundCommand held(ClientCommand(bob_, "image pull -q " + Ref()), dir_.path() + "/held.out");
  ASSERT_TRUE(WaitFor([&] { return ::access(stall.c_str(), F_OK) == 0; }, 60000)) << held.Output();
  BackgroundCommand second(ClientCommand(bob_, "image list"), dir_.path() + "/second.out");
  EXPECT_EQ(As(alice_, "image list").exit_status, 0) << "alice's request runs";
  EXPECT_EQ(second.Wait(2000), -1) << "bob's second waits: " << second.Output();
  ::unlink(stall.c_str());
  EXPECT_EQ(held.Wait(60000), 0) << held.Output();
  EXPECT_EQ(second.Wait(60000), 0) << second.Output();
  EXPECT_NE(second.Output().find("app-v1"), std::string::npos) << "it ran after the pull: " << second.Output();
}

// Each tenant's credentials are the tenant's: the client reads its own docker config and
// sends only what the request's registry needs; the daemon uses them for that request and
// never keeps or logs them; one tenant's access serves no other, though the blobs it
// brought are in the shared cache.
TEST_F(Daemon, ATenantsOwnCredentialsServeThatTenantOnly) {
  auto secret = TestRegistry::Start({.htpasswd = "alice:Op3n-Sesame"});
  ASSERT_TRUE(secret);
  ASSERT_FALSE(secret->Push("private/app", "v1", {}, "alice:Op3n-Sesame").is_null());
  WriteConfig("insecure_registries = " + registry_->host() + ", " + secret->host() + "\n");
  auto docker_config = [&](const std::string& user, const std::string& user_pass) {
    const std::string dir = dir_.path() + "/docker-" + user;
    EXPECT_EQ(::mkdir(dir.c_str(), 0700), 0);
    std::ofstream(dir + "/config.json") << R"({"auths": {")" << secret->host() << R"(": {"auth": ")"
                                         << RunCommand("printf %s '" + user_pass + "' | base64 -w0").output << R"("}}})";
    EXPECT_EQ(RunCommand("chown -R " + user + " " + dir + " && chmod 0600 " + dir + "/config.json").exit_status, 0);
    return dir;
  };
  const std::string ref = secret->host() + "/private/app:v1";
  const std::string alices = docker_config(alice_, "alice:Op3n-Sesame");
  CommandResult alice = RunCommand(TestAccounts::As(alice_, client_ + " image pull -q " + ref,
                                                    "BANGER_HOST=unix://" + socket_ + " DOCKER_CONFIG=" + alices) +
                                   " 2>&1");
  EXPECT_EQ(alice.exit_status, 0) << alice.output;
  // bob, with no credentials or with wrong ones, gets nothing of what alice's pull cached.
  CommandResult anonymous = As(bob_, "image pull -q " + ref);
  EXPECT_NE(anonymous.exit_status, 0) << anonymous.output;
  EXPECT_NE(anonymous.output.find("unauthorized"), std::string::npos) << anonymous.output;
  const std::string bobs = docker_config(bob_, "alice:guessed");
  CommandResult guessed = RunCommand(TestAccounts::As(bob_, client_ + " image pull -q " + ref,
                                                      "BANGER_HOST=unix://" + socket_ + " DOCKER_CONFIG=" + bobs) +
                                     " 2>&1");
  EXPECT_NE(guessed.exit_status, 0) << guessed.output;
  EXPECT_NE(guessed.output.find("unauthorized"), std::string::npos) << guessed.output;
  EXPECT_EQ(As(bob_, "image list").output.find("app-v1"), std::string::npos);
  // Nothing the daemon wrote holds the password.
  for (const std::string& file : {log_, dir_.path() + "/bangerd.log"}) {
    EXPECT_EQ(ReadFile(file).find("Op3n-Sesame"), std::string::npos) << file;
  }
  EXPECT_EQ(RunCommand("grep -rl Op3n-Sesame " + state_.path() + " " + cache_.path()).output, "");
}

// An admin sees every tenant's images with their owners and reaches one as OWNER/NAME;
// a tenant cannot.
TEST_F(Daemon, AnAdminSeesEveryTenantsImagesWithTheirOwners) {
  ASSERT_EQ(As(alice_, "image pull -q " + Ref()).exit_status, 0);
  ASSERT_EQ(As(bob_, "image pull -q " + Ref()).exit_status, 0);
  CommandResult listed = As(dave_, "image list");
  ASSERT_EQ(listed.exit_status, 0) << listed.output;
  EXPECT_EQ(listed.output.rfind("OWNER", 0), 0u) << listed.output;
  for (const std::string& owner : {alice_, bob_}) {
    EXPECT_NE(listed.output.find("\n" + owner + " "), std::string::npos) << listed.output;
  }
  const json all = json::parse(As(dave_, "image list --json").output, nullptr, false);
  ASSERT_TRUE(all.is_array());
  std::multiset<std::string> owners;
  for (const json& image : all) owners.insert(image.value("owner", ""));
  EXPECT_EQ(owners, (std::multiset<std::string>{alice_, bob_}));
  CommandResult root = RunCommand("env BANGER_CONFIG=" + config_ + " " BANGER_BIN_DIR "/banger image list 2>&1");
  EXPECT_NE(root.output.find("\n" + alice_ + " "), std::string::npos) << "root's own banger: " << root.output;

  CommandResult inspected = As(dave_, "image inspect " + alice_ + "/app-v1");
  EXPECT_EQ(inspected.exit_status, 0) << inspected.output;
  EXPECT_NE(inspected.output.find("/tenants/" + std::to_string(TestAccounts::Uid(alice_)) + "/"), std::string::npos)
      << inspected.output;
  CommandResult reached = As(alice_, "image rm " + bob_ + "/app-v1");
  EXPECT_EQ(reached.exit_status, 1) << reached.output;
  EXPECT_NE(reached.output.find("OWNER/NAME is for admins"), std::string::npos) << reached.output;
  CommandResult removed = As(dave_, "image rm " + bob_ + "/app-v1");
  EXPECT_EQ(removed.exit_status, 0) << removed.output;
  EXPECT_EQ(As(bob_, "image list").output.find("app-v1"), std::string::npos);
  EXPECT_NE(As(alice_, "image list").output.find("app-v1"), std::string::npos);
  const std::vector<json> records = RecordsOf(TestAccounts::Uid(dave_), "image rm");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0]["argv"], (json{"banger", "image", "rm", bob_ + "/app-v1"}));
}

// A file a tenant receives travels as an fd the client opened: the bundle is written into
// a file the client created as the tenant, and published by the client; a path the
// tenant cannot write is never opened by root.
TEST_F(Daemon, ATenantsBundleGoesIntoAFileTheClientOpened) {
  ASSERT_EQ(As(alice_, "image pull -q " + Ref()).exit_status, 0);
  const std::string mine = dir_.path() + "/alices";
  ASSERT_EQ(RunCommand("mkdir " + mine + " && chown " + alice_ + " " + mine).exit_status, 0);
  CommandResult bundled = As(alice_, "image bundle app-v1 --out " + mine + "/app.tar.zst");
  ASSERT_EQ(bundled.exit_status, 0) << bundled.output;
  const json entry = json::parse(bundled.output, nullptr, false);
  ASSERT_TRUE(entry.is_object()) << bundled.output;
  EXPECT_EQ(RunCommand("stat -c %U " + mine + "/app.tar.zst").output, alice_ + "\n") << "the client made it";
  EXPECT_EQ(RunCommand("sha256sum " + mine + "/app.tar.zst | cut -d' ' -f1").output, entry["sha256"].get<std::string>() + "\n");
  EXPECT_EQ(RunCommand("zstd -dc " + mine + "/app.tar.zst | tar -t").output, "manifest.json\nrootfs.ext4\n");
  EXPECT_EQ(RunCommand("ls -A " + mine).output, "app.tar.zst\n") << "nothing staged is left";

  // Where alice cannot write, nothing is written, by her client or by root.
  CommandResult refused = As(alice_, "image bundle app-v1 --out " + dir_.path() + "/rootowned.tar.zst");
  EXPECT_EQ(refused.exit_status, 1) << refused.output;
  EXPECT_NE(refused.output.find("creating " + dir_.path() + "/rootowned.tar.zst"), std::string::npos) << refused.output;
  EXPECT_FALSE(::access((dir_.path() + "/rootowned.tar.zst").c_str(), F_OK) == 0);
  // Nor into memory: a file on tmpfs (or a memfd) is refused, and the staged file goes.
  CommandResult in_memory = As(alice_, "image bundle app-v1 --out /dev/shm/banger-test-" + alice_ + ".tar.zst");
  EXPECT_EQ(in_memory.exit_status, 1) << in_memory.output;
  EXPECT_NE(in_memory.output.find("must be a file on a disk"), std::string::npos) << in_memory.output;
  EXPECT_EQ(RunCommand("ls /dev/shm | grep -c banger-test-" + alice_).output, "0\n");
  // A failed bundle leaves no staged file.
  CommandResult missing = As(alice_, "image bundle nosuch --out " + mine + "/none.tar.zst");
  EXPECT_EQ(missing.exit_status, 1) << missing.output;
  EXPECT_EQ(RunCommand("ls -A " + mine).output, "app.tar.zst\n");
}

// Twenty clients of three tenants at once, with an admin pruning the cache in a loop:
// the daemon runs at most max_requests at a time and tenant_max_requests per tenant, the
// rest wait their turn, and every pull succeeds with one start and one end record.
TEST_F(Daemon, TwentyConcurrentClientsOfThreeTenantsAllSucceedWhileTheCacheIsPruned) {
  WriteConfig("insecure_registries = " + registry_->host() + "\nmax_requests = 4\ntenant_max_requests = 2\n");
  ASSERT_EQ(::kill(daemon_->pid(), SIGHUP), 0);  // the bounds are read at start and at SIGHUP
  ASSERT_TRUE(WaitFor([&] { return daemon_->Output().find("SIGHUP: reloaded the config") != std::string::npos; }, 10000))
      << daemon_->Output();
  const std::vector<std::string> tenants = {alice_, bob_, erin_};
  std::vector<std::unique_ptr<BackgroundCommand>> clients;
  for (int i = 0; i < 20; ++i) {
    const std::string name = "c" + std::to_string(i);
    clients.push_back(std::make_unique<BackgroundCommand>(
        ClientCommand(tenants[i % 3], "image pull -q --name " + name + " " + Ref()), dir_.path() + "/" + name + ".out"));
  }
  BackgroundCommand pruner("sh -c 'for i in $(seq 30); do " + ClientCommand(dave_, "image cache prune") +
                               " || exit 1; done'",
                           dir_.path() + "/prune.out");
  for (size_t i = 0; i < clients.size(); ++i) {
    EXPECT_EQ(clients[i]->Wait(240000), 0) << "client " << i << ": " << clients[i]->Output();
  }
  EXPECT_EQ(pruner.Wait(240000), 0) << pruner.Output();
  const std::string digest = pushed_["images"]["linux/amd64"]["manifest_digest"];
  for (size_t t = 0; t < tenants.size(); ++t) {
    const std::vector<json> records = RecordsOf(TestAccounts::Uid(tenants[t]), "image pull");
    const size_t pulls = t == 0 ? 7 : (t == 1 ? 7 : 6);
    ASSERT_EQ(records.size(), 2 * pulls) << tenants[t];
    std::map<std::string, int> events;
    for (const json& record : records) {
      events[record["id"].get<std::string>()] += record["event"] == "start" ? 1 : 10;
      if (record["event"] == "end") {
        EXPECT_EQ(record["result"], "ok") << record.dump();
        EXPECT_EQ(record["manifest_digest"], digest);
      }
    }
    for (const auto& [id, count] : events) EXPECT_EQ(count, 11) << "one start and one end for " << id;
    CommandResult listed = As(tenants[t], "image list");
    for (size_t i = t; i < 20; i += 3) {
      EXPECT_NE(listed.output.find("c" + std::to_string(i) + " "), std::string::npos) << listed.output;
    }
  }
  EXPECT_EQ(RecordsOf(TestAccounts::Uid(dave_), "image cache prune").size(), 60u);
}

// logrotate moves the log away and sends SIGHUP: the next request starts the new file,
// and the chain runs on across both.
TEST_F(Daemon, TheAuditChainRunsOnAcrossARotationAndSighup) {
  ASSERT_EQ(As(alice_, "image pull -q " + Ref()).exit_status, 0);
  ASSERT_EQ(::rename(log_.c_str(), (log_ + ".1").c_str()), 0);
  ASSERT_EQ(::kill(daemon_->pid(), SIGHUP), 0);
  CommandResult removed = As(alice_, "image rm app-v1");
  ASSERT_EQ(removed.exit_status, 0) << removed.output;
  const std::vector<json> rotated = JsonLines(ReadFile(log_ + ".1")), fresh = Records();
  ASSERT_EQ(rotated.size(), 2u);
  ASSERT_EQ(fresh.size(), 2u);
  EXPECT_EQ(fresh[0]["seq"], 3);
  CommandResult verified = RunCommand(BANGER_BIN_DIR "/banger system audit verify " + log_ + ".1 " + log_ + " 2>&1");
  EXPECT_EQ(verified.exit_status, 0) << verified.output;
  EXPECT_NE(verified.output.find("4 record(s), 1 to 4"), std::string::npos) << verified.output;
  // The rotated file's last record deleted: verify names the new file's first line.
  const std::string first_line = ReadFile(log_ + ".1").substr(0, ReadFile(log_ + ".1").find('\n') + 1);
  std::ofstream(log_ + ".1", std::ios::trunc) << first_line;
  CommandResult broken = RunCommand(BANGER_BIN_DIR "/banger system audit verify " + log_ + ".1 " + log_ + " 2>&1");
  EXPECT_EQ(broken.exit_status, 1) << broken.output;
  EXPECT_NE(broken.output.find(log_ + " line 1: record 3 follows record 1"), std::string::npos) << broken.output;
}

TEST_F(Daemon, CtrlCInAClientCancelsItsPullAndAKilledClientLeavesTheDaemonServing) {
  const std::string stall = dir_.path() + "/stall";
  StartDaemon("BANGER_TEST_STALL=" + stall);
  const uid_t alice = TestAccounts::Uid(alice_);
  auto held_pull = [&](const std::string& name) {
    auto pull = std::make_unique<BackgroundCommand>(ClientCommand(alice_, "image pull -q --name " + name + " " + Ref()),
                                                    dir_.path() + "/" + name + ".out");
    EXPECT_TRUE(WaitFor([&] { return ::access(stall.c_str(), F_OK) == 0; }, 60000)) << pull->Output();
    return pull;
  };
  auto helpers_gone = [&](const std::map<std::string, pid_t>& helpers) {
    return WaitFor([&] {
      for (const auto& [name, pid] : helpers) {
        if (::kill(pid, 0) == 0) return false;
      }
      return true;
    }, 30000);
  };

  // Ctrl-C: the client asks the daemon to cancel, and exits as an interrupted pull does.
  auto interrupted = held_pull("interrupted");
  auto helpers = StalledHelpers(stall);
  ASSERT_FALSE(helpers.empty());
  ASSERT_EQ(::kill(interrupted->pid(), SIGINT), 0);
  EXPECT_EQ(interrupted->Wait(60000), 130) << interrupted->Output();
  EXPECT_NE(interrupted->Output().find("interrupted by SIGINT"), std::string::npos) << interrupted->Output();
  EXPECT_TRUE(helpers_gone(helpers));
  ::unlink(stall.c_str());

  // A client killed outright: the daemon stops its request the same way.
  auto killed = held_pull("killed");
  helpers = StalledHelpers(stall);
  ASSERT_EQ(::kill(killed->pid(), SIGKILL), 0);
  EXPECT_TRUE(helpers_gone(helpers));
  ::unlink(stall.c_str());
  ASSERT_TRUE(WaitFor([&] { return RecordsOf(alice, "image pull").size() == 4; }, 30000)) << ReadFile(log_);
  const std::vector<json> records = RecordsOf(alice, "image pull");
  EXPECT_EQ(records[1]["exit_status"], 130) << records[1].dump();
  EXPECT_EQ(records[3]["exit_status"], 130) << records[3].dump();

  // Nothing was published, and the daemon still serves.
  CommandResult listed = As(alice_, "image list");
  EXPECT_EQ(listed.exit_status, 0) << listed.output << daemon_->Output();
  EXPECT_EQ(listed.output.find("interrupted"), std::string::npos) << listed.output;
  EXPECT_EQ(listed.output.find("killed"), std::string::npos) << listed.output;
  auto pulled = std::make_unique<BackgroundCommand>(ClientCommand(alice_, "image pull -q --name after " + Ref()),
                                                    dir_.path() + "/after.out");
  ASSERT_TRUE(WaitFor([&] { return ::access(stall.c_str(), F_OK) == 0; }, 60000)) << pulled->Output();
  ::unlink(stall.c_str());
  EXPECT_EQ(pulled->Wait(60000), 0) << pulled->Output();
}

}  // namespace
}  // namespace banger::testing
