// bangerd with real users (docs/multi-tenant.md), the daemon's side: identity comes from
// the kernel; the policy admits, refuses and limits by user and group; a tenant cannot
// widen the host's policy or reach its addresses; requests are bounded in all and per
// tenant; the same output and exit codes as a direct run; every request is in the audit
// log under the caller's uid, across a rotation; Ctrl-C in a client cancels its pull in the
// daemon, and a client killed mid-pull, or a helper that dies, leaves the daemon serving.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/daemon_fixture.h"

namespace banger::testing {
namespace {

using nlohmann::json;

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
  // Every refusal is a record of its own, however fast they come.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(As(carol_, "image list").exit_status, 1);
  EXPECT_EQ(RecordsOf(TestAccounts::Uid(carol_), "connect").size(), 4u) << ReadFile(log_);
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
      {"image pull --signature-policy /etc/banger/lax.json " + Ref(), "--signature-policy is for admins"},
      {"image fetch --signature-policy /etc/banger/lax.json " + Ref(), "--signature-policy is for admins"},
      {"image pull --insecure-registry evil.example:5000 evil.example:5000/x:1", "--insecure-registry evil.example:5000 is for admins"},
      {"image cache prune", "'image cache prune' is for admins"},
      // "-h" as a flag's value is no request for help: the policy still holds.
      {"image pull --catalog /etc/shadow --platform -h " + Ref(), "--catalog is for admins"},
      // The client creates --out as the tenant: root opens no path a tenant names.
      {"image bundle demo-app-v1 --out " + dir_.path() + "/x --url -h", "creating " + dir_.path() + "/x"},
      // Never through the daemon: it runs where it is typed, as its user.
      {"system install", "system install needs root"},
  };
  for (const auto& w : widening) {
    CommandResult result = As(alice_, w.args);
    EXPECT_EQ(result.exit_status, 1) << w.args << ": " << result.output;
    EXPECT_NE(result.output.find("banger: error: " + w.says), std::string::npos) << w.args << ": " << result.output;
  }
  EXPECT_EQ(RecordsOf(TestAccounts::Uid(alice_), "image pull").size(), 5u) << "each refusal is recorded";
  EXPECT_EQ(RecordsOf(TestAccounts::Uid(alice_), "image fetch").size(), 1u) << "each refusal is recorded";
  EXPECT_FALSE(::access((dir_.path() + "/x").c_str(), F_OK) == 0);
  EXPECT_EQ(As(alice_, "image list").output.find("demo-app-v1"), std::string::npos) << "nothing was pulled";
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
  EXPECT_EQ(As(alice_, "image list").output.find("demo-app-v1"), std::string::npos) << "nothing was published";
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
  // erin may hold 1 MiB: --size beyond it is refused before the pull, and an image whose
  // files would take erin beyond it when it is published, then, and nothing is kept.
  CommandResult sized = As(erin_, "image pull -q --size 2M " + Ref());
  EXPECT_EQ(sized.exit_status, 1) << sized.output;
  EXPECT_NE(sized.output.find("of the 1.0 MiB tenant_max_bytes allows, and --size asks for 2.0 MiB"), std::string::npos)
      << sized.output;
  CommandResult over = As(erin_, "image pull -q " + Ref());
  EXPECT_EQ(over.exit_status, 1) << over.output;
  EXPECT_NE(over.output.find("banger: error: " + erin_ + "'s images would hold "), std::string::npos) << over.output;
  EXPECT_NE(over.output.find("with this one, more than the 1.0 MiB tenant_max_bytes allows"), std::string::npos)
      << over.output;
  EXPECT_EQ(As(erin_, "image list --json").output, "[]\n") << "nothing published";
  EXPECT_EQ(StagingLeftBy(erin_), "0\n");
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

// The same command gives the same output and exit status through the daemon as run
// directly by the same config (here root's, both ways), and a helper killed mid-pull
// fails that request alone (exit 3, naming it) while the daemon keeps serving.
TEST_F(Daemon, OutputAndExitStatusAreTheCommandsAndAHelperThatDiesEndsItsRequestOnly) {
  ASSERT_EQ(RunCommand("env BANGER_CONFIG=" + config_ + " " BANGER_BIN_DIR "/banger image pull -q " + Ref()).exit_status, 0);
  const std::string direct = "env BANGER_CONFIG=" + config_ + " " BANGER_BIN_DIR "/banger ";
  const std::string through = "env BANGER_CONFIG=" + config_ + " BANGER_HOST=unix://" + socket_ + " " BANGER_BIN_DIR "/banger ";
  for (const std::string& args : {std::string("image list --json"), std::string("image inspect demo-app-v1"),
                                  std::string("image inspect nosuch"), std::string("image pull --nosuchflag x"),
                                  std::string("image list --help"), std::string("image inspect nosuch --json"),
                                  std::string("image rm nosuch demo-app-v1x --json"), std::string("image frob --json")}) {
    // stdout and stderr apart: through the daemon they are two streams whose order
    // between them is not kept (braced: RunCommand sends the group's stderr to stdout).
    for (const char* keep : {" 2>/dev/null; }", " 2>&1 >/dev/null; }"}) {
      CommandResult a = RunCommand("{ " + direct + args + keep), b = RunCommand("{ " + through + args + keep);
      EXPECT_EQ(a.exit_status, b.exit_status) << args;
      EXPECT_EQ(a.output, b.output) << args << keep;
    }
  }
  // stdout alone (braced: RunCommand sends the group's stderr to stdout): a warning's
  // stderr line may come after the result, as stdout and stderr travel apart.
  CommandResult pulled = RunCommand("{ " + through + "image pull --json --name j " + Ref() + " 2>/dev/null; }");
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
  // Up to 32 of one user's requests wait; the next is refused at once, and recorded.
  std::vector<std::unique_ptr<BackgroundCommand>> queued;
  for (int i = 0; i < 31; ++i) {
    queued.push_back(std::make_unique<BackgroundCommand>(ClientCommand(bob_, "image list"),
                                                         dir_.path() + "/queued" + std::to_string(i) + ".out"));
  }
  ASSERT_TRUE(WaitFor([&] { return ServedConnections() == 33; }, 60000)) << ServedConnections();
  CommandResult busy = As(bob_, "image list");
  EXPECT_EQ(busy.exit_status, 1) << busy.output;
  EXPECT_NE(busy.output.find("banger: error: bangerd is busy: 32 requests of " + bob_ + " are waiting already"),
            std::string::npos)
      << busy.output;
  const std::vector<json> refused = RecordsOf(TestAccounts::Uid(bob_), "connect");
  ASSERT_EQ(refused.size(), 1u) << ReadFile(log_);
  EXPECT_EQ(refused[0]["event"], "refused");
  ::unlink(stall.c_str());
  EXPECT_EQ(held.Wait(60000), 0) << held.Output();
  EXPECT_EQ(second.Wait(60000), 0) << second.Output();
  EXPECT_NE(second.Output().find("demo-app-v1"), std::string::npos) << "it ran after the pull: " << second.Output();
  for (auto& waited : queued) EXPECT_EQ(waited->Wait(60000), 0) << waited->Output();
}

// A tenant's quota holds when its pulls run at once: each passes the check made before it
// starts, and the store checks again as it publishes, under its lock.
TEST_F(Daemon, ATenantsConcurrentPullsCannotTogetherGoBeyondItsQuota) {
  WriteConfig("insecure_registries = " + registry_->host() + "\ntenant." + erin_ + ".max_images = 1\n");
  const std::string stall = dir_.path() + "/stall";
  StartDaemon("BANGER_TEST_STALL=" + stall);
  BackgroundCommand first(ClientCommand(erin_, "image pull -q --name first " + Ref()), dir_.path() + "/first.out");
  BackgroundCommand second(ClientCommand(erin_, "image pull -q --name second " + Ref()), dir_.path() + "/second.out");
  // Both have passed the check before the pull and hold their helpers; neither can have
  // published, since each writes the stall file and waits for it to go before it does.
  ASSERT_TRUE(WaitFor([&] { return DaemonDescendantsNamed("banger-imager") == 2; }, 60000))
      << first.Output() << second.Output();
  // Both go on (the later one to stall may write the file again).
  ASSERT_TRUE(WaitFor([&] {
    ::unlink(stall.c_str());
    return first.Wait(0) >= 0 && second.Wait(0) >= 0;
  }, 60000)) << first.Output() << second.Output();
  const int first_status = first.Wait(0), second_status = second.Wait(0);
  EXPECT_EQ((first_status == 0) + (second_status == 0), 1) << first.Output() << second.Output();
  const std::string refused = first_status == 0 ? second.Output() : first.Output();
  EXPECT_NE(refused.find("banger: error: " + erin_ + " would hold 2 images with this one, more than the 1 "
                         "tenant_max_images allows"),
            std::string::npos)
      << refused;
  const json listed = json::parse(As(erin_, "image list --json").output, nullptr, false);
  ASSERT_TRUE(listed.is_array()) << listed.dump();
  EXPECT_EQ(listed.size(), 1u) << listed.dump();
  EXPECT_EQ(StagingLeftBy(erin_), "0\n");
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
  CommandResult removed = As(alice_, "image rm demo-app-v1");
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

// A reload (logrotate, `systemctl reload`) may come while bangerd is still starting: a
// SIGHUP sent the moment its socket appears is a reload, never the default action that
// ends the process. Each round spins on the socket's path to signal as early as it can.
TEST_F(Daemon, ASighupTheMomentItsSocketAppearsReloadsRatherThanEndsTheDaemon) {
  for (int round = 0; round < 5; ++round) {
    daemon_.reset();
    ASSERT_NE(::access(socket_.c_str(), F_OK), 0) << "the stopped daemon took its socket";
    daemon_ = std::make_unique<TestDaemon>(config_, socket_, dir_.path() + "/early" + std::to_string(round) + ".log");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    struct stat st {};
    while (::lstat(socket_.c_str(), &st) != 0) ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    ASSERT_EQ(::kill(daemon_->pid(), SIGHUP), 0);
    ASSERT_TRUE(WaitFor([&] { return daemon_->Output().find("SIGHUP: reloaded the config") != std::string::npos; },
                        20000))
        << "round " << round << ": " << daemon_->Output();
    CommandResult listed = As(alice_, "image list");
    EXPECT_EQ(listed.exit_status, 0) << listed.output;
  }
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
