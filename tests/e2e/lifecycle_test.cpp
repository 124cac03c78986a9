// A pull's life seen from outside: its helpers confined while it runs, stopped by
// SIGINT/SIGTERM or kill -9 without publishing anything, a helper killed under it, the
// cache pruned under running pulls, and simultaneous pulls sharing one download.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/registry_fixture.h"

namespace banger::testing {
namespace {

using nlohmann::json;


bool Alive(pid_t pid) { return ::kill(pid, 0) == 0 && ProcStatusField(pid, "State").rfind("Z", 0) != 0; }

void ExpectConfined(pid_t pid, const std::string& who) {
  EXPECT_EQ(ProcStatusField(pid, "NoNewPrivs"), "1") << who;
  EXPECT_EQ(ProcStatusField(pid, "Seccomp"), "2") << who;
  for (const char* caps : {"CapEff", "CapPrm", "CapBnd"}) EXPECT_EQ(ProcStatusField(pid, caps), "0000000000000000") << who;
  const std::string uid = ProcStatusField(pid, "Uid");
  EXPECT_FALSE(uid.empty()) << who;
  EXPECT_NE(uid.substr(0, uid.find('\t')), "0") << who << " runs as root: " << uid;
}

class Lifecycle : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = TestRegistry::Start();
    ASSERT_TRUE(registry_);
    ASSERT_FALSE(registry_->Push("demo/app", "v1", {"--layers", "3", "--layer-bytes", "200000"}).is_null());
    ASSERT_FALSE(registry_->Push("demo/other", "v1", {"--layers", "2", "--seed", "7"}).is_null());
  }
  std::string Env() const {
    return "env TMPDIR=" + tmp_.path() + " BANGER_STATE_DIR=" + state_.path() + " BANGER_CACHE_DIR=" + cache_.path() +
           " DOCKER_CONFIG=" + cache_.path() + " ";
  }
  CommandResult Banger(const std::string& args) { return RunCommand(Env() + kBin + "/banger " + args); }
  std::unique_ptr<BackgroundCommand> Start(const std::string& args, const std::string& extra_env = "") {
    return std::make_unique<BackgroundCommand>(Env() + extra_env + kBin + "/banger " + args,
                                               work_.path() + "/out-" + std::to_string(++started_));
  }
  std::string Ref(const std::string& repo = "demo/app") const { return registry_->host() + "/" + repo + ":v1"; }
  size_t Published() { return json::parse(Banger("image list --json").output).size(); }
  std::string StagingLeft() { return RunCommand("ls -A " + state_.path() + "/images | grep staging").output; }
  // Every cached blob's sha256 matches its name, and there are blobs to check.
  void ExpectEveryBlobMatchesItsName() {
    const std::string blobs = cache_.path() + "/oci/blobs/sha256";
    CommandResult check = RunCommand("cd " + blobs + " && n=0; for f in *; do [ -e \"$f\" ] || continue; n=$((n+1)); "
                                     "[ \"$(sha256sum < \"$f\" | cut -c1-64)\" = \"$f\" ] || echo \"bad $f\"; done; "
                                     "echo \"checked $n\"");
    EXPECT_EQ(check.output.find("bad "), std::string::npos) << check.output;
    EXPECT_EQ(check.output.rfind("checked 0\n"), std::string::npos) << "no blob to check: " << check.output;
  }

  std::unique_ptr<TestRegistry> registry_;
  ScratchDir state_{"banger-state"}, cache_{"banger-cache"}, tmp_{"banger-tmp"}, work_{"banger-lifecycle"};
  int started_ = 0;
};

TEST_F(Lifecycle, HelpersAreConfinedWhileAPullRuns) {
  BANGER_REQUIRE_ROOT();
  // The fetcher, caught mid-download behind a slow proxy.
  auto proxy = TestProxy::Start(registry_->host(), {"--slow-blobs", "100000"});
  ASSERT_TRUE(proxy);
  auto slow = Start("image pull --json --name slow " + proxy->host() + "/demo/app:v1");
  // Once bytes flow the broker has checked the fetcher's lockdown; look at it then.
  ASSERT_TRUE(WaitFor([&] { return slow->Output().find("\"state\":\"downloading\"") != std::string::npos; }, 20000))
      << slow->Output();
  pid_t fetcher = -1;
  ASSERT_TRUE(WaitFor([&] {
    const std::string found = RunCommand("pgrep -P " + std::to_string(slow->pid()) + " -x banger-fetcher").output;
    fetcher = found.empty() ? -1 : std::atoi(found.c_str());
    return fetcher > 0;
  }, 20000));
  ExpectConfined(fetcher, "banger-fetcher");
  EXPECT_EQ(slow->Wait(60000), 0) << slow->Output();

  // The unpacker and imager, held by the test hook once both run.
  const std::string stall = work_.path() + "/stall";
  auto held = Start("image pull -q --name held " + Ref(), "BANGER_TEST_STALL=" + stall + " ");
  ASSERT_TRUE(WaitFor([&] { return ::access(stall.c_str(), F_OK) == 0; }, 20000)) << held->Output();
  auto helpers = StalledHelpers(stall);
  ASSERT_EQ(helpers.size(), 2u);
  for (const auto& [name, pid] : helpers) {
    EXPECT_EQ(ReadFile("/proc/" + std::to_string(pid) + "/comm"), name + "\n");
    ExpectConfined(pid, name);
  }
  ::unlink(stall.c_str());
  EXPECT_EQ(held->Wait(30000), 0) << held->Output();
  EXPECT_EQ(Published(), 2u);
}

// With helper_uids configured, concurrent pulls run their helpers as uids of their own
// from the range, so one pull's compromised helper shares no uid with another's; a pull
// that finds every uid held says so and runs nothing.
TEST_F(Lifecycle, ConcurrentPullsRunTheirHelpersAsUidsOfTheirOwn) {
  BANGER_REQUIRE_ROOT();
  const std::string config = work_.path() + "/config";
  std::ofstream(config) << "helper_uids = 2147000100-2147000101\n";
  const std::string with_config = "BANGER_CONFIG=" + config + " ";
  std::map<std::string, std::set<uid_t>> uids_of;  // pull -> the uids its helpers run as
  std::vector<std::unique_ptr<BackgroundCommand>> held;
  std::vector<std::string> stalls;
  for (const std::string name : {"one", "two"}) {
    stalls.push_back(work_.path() + "/stall-" + name);
    held.push_back(Start("image pull -q --name " + name + " " + Ref(), with_config + "BANGER_TEST_STALL=" + stalls.back() + " "));
    ASSERT_TRUE(WaitFor([&] { return ::access(stalls.back().c_str(), F_OK) == 0; }, 20000)) << held.back()->Output();
    auto helpers = StalledHelpers(stalls.back());
    ASSERT_EQ(helpers.size(), 2u);
    for (const auto& [helper, pid] : helpers) {
      std::istringstream uids(ProcStatusField(pid, "Uid"));
      for (uid_t uid; uids >> uid;) uids_of[name].insert(uid);
      ExpectConfined(pid, helper);
    }
  }
  EXPECT_EQ(uids_of["one"], (std::set<uid_t>{2147000100u})) << "the first free uid, for every helper and id";
  EXPECT_EQ(uids_of["two"], (std::set<uid_t>{2147000101u}));
  CommandResult third = RunCommand(Env() + with_config + kBin + "/banger image pull -q --name three " + Ref());
  EXPECT_NE(third.exit_status, 0);
  EXPECT_NE(third.output.find("every uid in helper_uids (2147000100-2147000101) is held by another pull"),
            std::string::npos) << third.output;
  for (size_t i = 0; i < held.size(); ++i) {
    ::unlink(stalls[i].c_str());
    EXPECT_EQ(held[i]->Wait(30000), 0) << held[i]->Output();
  }
  EXPECT_EQ(Published(), 2u);
  // Released with the pulls: the next one gets the first uid again.
  EXPECT_EQ(RunCommand(Env() + with_config + kBin + "/banger image pull -q --name three " + Ref()).exit_status, 0);
}

TEST_F(Lifecycle, KillMinus9OfBangerPublishesNothingAndLeavesNoHelper) {
  const std::string stall = work_.path() + "/stall";
  auto pull = Start("image pull -q " + Ref(), "BANGER_TEST_STALL=" + stall + " ");
  ASSERT_TRUE(WaitFor([&] { return ::access(stall.c_str(), F_OK) == 0; }, 20000)) << pull->Output();
  auto helpers = StalledHelpers(stall);
  ASSERT_EQ(helpers.size(), 2u);
  // Stopped, a helper cannot notice its channel closing: only the parent-death signal
  // (SIGKILL, which a stopped process still takes) can end it now.
  for (const auto& [name, pid] : helpers) {
    ASSERT_EQ(::kill(pid, SIGSTOP), 0) << name;
    ASSERT_TRUE(WaitFor([pid = pid] { return ProcStatusField(pid, "State").rfind("T", 0) == 0; }, 10000)) << name;
  }
  ::kill(pull->pid(), SIGKILL);
  EXPECT_EQ(pull->Wait(10000), 128 + SIGKILL);
  for (const auto& [name, pid] : helpers) {
    const bool died = WaitFor([&] { return !Alive(pid); }, 10000);
    EXPECT_TRUE(died) << name << " outlived banger";
    if (!died) ::kill(pid, SIGKILL);
  }
  EXPECT_EQ(Published(), 0u) << "nothing published";
  EXPECT_NE(StagingLeft(), "") << "the dead pull's staging is still there, for the next run to clear";
  CommandResult next = Banger("image pull -q " + Ref());
  EXPECT_EQ(next.exit_status, 0) << next.output;
  EXPECT_EQ(Published(), 1u);
  EXPECT_EQ(StagingLeft(), "") << "the next pull cleared the stale staging";
}

TEST_F(Lifecycle, SigintAndSigtermStopThePullCleanly) {
  for (int signo : {SIGINT, SIGTERM}) {
    const std::string stall = work_.path() + "/stall-" + std::to_string(signo);
    auto pull = Start("image pull " + Ref(), "BANGER_TEST_STALL=" + stall + " ");
    ASSERT_TRUE(WaitFor([&] { return ::access(stall.c_str(), F_OK) == 0; }, 20000)) << pull->Output();
    auto helpers = StalledHelpers(stall);
    ASSERT_EQ(helpers.size(), 2u) << "the unpacker and the imager were running";
    for (const auto& [name, pid] : helpers) ASSERT_TRUE(Alive(pid)) << name << " was running before the signal";
    ::kill(pull->pid(), signo);
    EXPECT_EQ(pull->Wait(15000), 128 + signo) << pull->Output();
    const std::string output = pull->Output();
    EXPECT_NE(output.find(signo == SIGINT ? "banger: error: interrupted by SIGINT" : "banger: error: stopped by SIGTERM"),
              std::string::npos)
        << output;
    for (const auto& [name, pid] : helpers) EXPECT_FALSE(Alive(pid)) << name << " left running";
    EXPECT_EQ(Published(), 0u);
    EXPECT_EQ(StagingLeft(), "") << "staging removed";
    EXPECT_EQ(RunCommand("ls -A " + tmp_.path()).output, "") << "scratch removed";
  }
}

TEST_F(Lifecycle, AHelperKilledMidPullEndsItWithExit3NamingTheStage) {
  const std::map<std::string, std::pair<int, std::string>> cases = {
      {"banger-unpacker", {SIGKILL, "banger-unpacker killed by signal 9 (SIGKILL)"}},
      {"banger-imager", {SIGSYS, "banger-imager"}}};
  for (const auto& [victim, what] : cases) {
    const std::string stall = work_.path() + "/stall-" + victim;
    auto pull = Start("image pull -q --name " + victim + " " + Ref(), "BANGER_TEST_STALL=" + stall + " ");
    ASSERT_TRUE(WaitFor([&] { return ::access(stall.c_str(), F_OK) == 0; }, 20000)) << pull->Output();
    auto helpers = StalledHelpers(stall);
    ASSERT_EQ(::kill(helpers.at(victim), what.first), 0);
    ::unlink(stall.c_str());
    EXPECT_EQ(pull->Wait(20000), 3) << pull->Output();
    const std::string output = pull->Output();
    EXPECT_NE(output.find("banger: error: " + what.second), std::string::npos) << output;
    if (what.first == SIGSYS) {
      EXPECT_NE(output.find("sandbox violation"), std::string::npos) << output;
    }
    EXPECT_EQ(std::count(output.begin(), output.end(), '\n'), 1) << "one line: " << output;
    EXPECT_EQ(Published(), 0u);
    EXPECT_EQ(StagingLeft(), "");
  }
}

TEST_F(Lifecycle, PruneFreesTheCacheAndTheNextPullDownloadsAgain) {
  ASSERT_EQ(Banger("image pull -q " + Ref()).exit_status, 0);
  const std::string blobs = cache_.path() + "/oci/blobs/sha256";
  const std::string count = RunCommand("ls " + blobs + " | wc -l").output;
  ASSERT_NE(count, "0\n");
  CommandResult dry = Banger("image cache prune --dry-run");
  EXPECT_EQ(dry.exit_status, 0);
  EXPECT_EQ(dry.output.rfind("would free ", 0), 0u) << dry.output;
  EXPECT_NE(dry.output.find(" across " + count.substr(0, count.size() - 1) + " blob(s) in " + cache_.path() +
                            "/oci, 1 unpacked image(s) included"),
            std::string::npos)
      << dry.output;
  EXPECT_EQ(RunCommand("ls " + blobs + " | wc -l").output, count) << "a dry run removes nothing";
  CommandResult prune = Banger("image cache prune");
  EXPECT_EQ(prune.exit_status, 0);
  EXPECT_EQ(prune.output.rfind("freed ", 0), 0u) << prune.output;
  EXPECT_EQ(RunCommand("ls " + blobs + " | wc -l").output, "0\n");
  EXPECT_EQ(RunCommand("ls -A " + cache_.path() + "/oci/unpacked | wc -l").output, "0\n");
  EXPECT_EQ(Banger("image cache prune").output, "freed 0 B across 0 blob(s) in " + cache_.path() + "/oci\n");
  EXPECT_EQ(Published(), 1u) << "images do not need the cache";
  const int gets = registry_->CountInLog("GET /v2/demo/app/blobs/");
  EXPECT_EQ(Banger("image pull -q --name again " + Ref()).exit_status, 0);
  EXPECT_GT(registry_->CountInLog("GET /v2/demo/app/blobs/"), gets) << "downloaded again";
  EXPECT_EQ(Banger("image cache nonsense").exit_status, 2);
}

// Pulling an image again skips the unpacker: the unpacked cache holds what it made (a
// link to the image it published), the image comes out byte for byte the same, an entry
// from an earlier boot (whose unsynced tree a crash may have cut short) is not trusted,
// nor one whose image was written to since, and other unpack bounds miss.
TEST_F(Lifecycle, APullAgainUsesTheUnpackedCacheAndGivesTheSameImage) {
  auto unpacked_event = [](const std::string& output) {
    for (size_t start = 0; start < output.size();) {
      size_t end = output.find('\n', start);
      if (end == std::string::npos) end = output.size();
      auto event = json::parse(output.substr(start, end - start), nullptr, false);
      if (event.is_object() && event.value("phase", "") == "unpacked") return event;
      start = end + 1;
    }
    return json();
  };
  auto pull = [&](const std::string& name, const std::string& extra = "") {
    CommandResult r = Banger("image pull --json --name " + name + " " + extra + Ref());
    EXPECT_EQ(r.exit_status, 0) << r.output;
    const json event = unpacked_event(r.output);
    EXPECT_TRUE(event.is_object()) << r.output;
    return event.value("cached", false);
  };
  auto image_sha = [&](const std::string& name) {
    for (const auto& image : json::parse(Banger("image list --json").output)) {
      if (image.value("name", "") == name) {
        return RunCommand("sha256sum " + state_.path() + "/images/" + image.value("id", "") + "/rootfs.ext4 | cut -c1-64")
            .output;
      }
    }
    return std::string("no image " + name);
  };
  EXPECT_FALSE(pull("first"));
  EXPECT_TRUE(pull("second"));
  EXPECT_EQ(image_sha("second"), image_sha("first"));
  EXPECT_EQ(RunCommand("for f in " + state_.path() + "/images/*/rootfs.ext4; do e2fsck -fn $f >/dev/null 2>&1 || echo $f; done")
                .output,
            "");

  const std::string summaries = cache_.path() + "/oci/unpacked/*/unpacked.json";
  ASSERT_EQ(RunCommand("ls " + summaries + " | wc -l").output, "1\n");
  ASSERT_EQ(RunCommand("sed -i 's/\"boot_id\":\"[^\"]*\"/\"boot_id\":\"an-earlier-boot\"/' " + summaries).exit_status, 0);
  EXPECT_FALSE(pull("third")) << "an entry from another boot is not used";
  EXPECT_EQ(RunCommand("grep -c an-earlier-boot " + summaries).output, "0\n") << "and it was replaced";
  EXPECT_EQ(image_sha("third"), image_sha("first"));
  EXPECT_TRUE(pull("fourth"));

  // The cached image is a published one: written to (a guest booted it read-write, say),
  // it is not copied from, and its entry makes way for a new one.
  const std::string cached_image = "$(ls " + cache_.path() + "/oci/unpacked/*/image)";
  ASSERT_EQ(RunCommand("printf 'written by a guest' | dd of=" + cached_image + " bs=1 seek=" +
                       std::to_string(20 << 20) + " conv=notrunc 2>/dev/null")
                .exit_status,
            0);
  EXPECT_FALSE(pull("fifth")) << "the cached image was written to";
  EXPECT_EQ(image_sha("fifth"), image_sha("first"));
  EXPECT_TRUE(pull("sixth")) << "a new entry took its place";
  EXPECT_EQ(image_sha("sixth"), image_sha("first"));

  EXPECT_FALSE(pull("bounded", "--limit max_entries=5000 ")) << "other bounds, another entry";
  EXPECT_EQ(RunCommand("ls " + summaries + " | wc -l").output, "2\n");
}

TEST_F(Lifecycle, SimultaneousPullsOfOneImageShareEachDownload) {
  auto proxy = TestProxy::Start(registry_->host(), {"--slow-blobs", "400000"});
  ASSERT_TRUE(proxy);
  std::vector<std::unique_ptr<BackgroundCommand>> pulls;
  for (int i = 0; i < 3; ++i) pulls.push_back(Start("image pull -q --name same-" + std::to_string(i) + " " +
                                                    proxy->host() + "/demo/app:v1"));
  for (auto& p : pulls) EXPECT_EQ(p->Wait(60000), 0) << p->Output();
  std::map<std::string, int> gets;
  for (const json& entry : proxy->Log()) {
    if (entry["method"] == "GET" && entry["path"].get<std::string>().find("/blobs/") != std::string::npos) {
      ++gets[entry["path"]];
    }
  }
  EXPECT_EQ(gets.size(), 4u) << "config and three layers";
  for (const auto& [path, n] : gets) EXPECT_EQ(n, 1) << path << " was downloaded " << n << " times";
  ExpectEveryBlobMatchesItsName();
}

TEST_F(Lifecycle, TenConcurrentPullsSucceedWhilePruneRunsInALoop) {
  auto proxy = TestProxy::Start(registry_->host(), {"--slow-blobs", "2000000"});
  ASSERT_TRUE(proxy);
  const std::string stop = work_.path() + "/stop-pruning";
  auto pruner = std::make_unique<BackgroundCommand>(
      "sh -c 'while [ ! -e " + stop + " ]; do " + Env() + kBin + "/banger image cache prune || exit 1; done'",
      work_.path() + "/pruner");
  std::vector<std::unique_ptr<BackgroundCommand>> pulls;
  for (int i = 0; i < 10; ++i) {
    const std::string repo = i % 2 == 0 ? "demo/app" : "demo/other";
    pulls.push_back(Start("image pull -q --name many-" + std::to_string(i) + " " + proxy->host() + "/" + repo + ":v1"));
  }
  for (auto& p : pulls) EXPECT_EQ(p->Wait(120000), 0) << p->Output();
  EXPECT_EQ(pruner->Wait(0), -1) << "the prune loop kept running: " << pruner->Output();
  RunCommand("touch " + stop);
  EXPECT_EQ(pruner->Wait(30000), 0) << "the prune loop ends cleanly: " << pruner->Output();
  EXPECT_EQ(Published(), 10u);
  // Prune's own report shows it ran while pulls held blobs, and kept them.
  const std::string report = pruner->Output();
  EXPECT_NE(report.find(" in use by running pulls kept)"), std::string::npos) << "no prune overlapped a pull: " << report;
  // What the race left in the cache is sound: a last pull fills it and every blob checks.
  EXPECT_EQ(Banger("image pull -q --name after " + Ref()).exit_status, 0);
  ExpectEveryBlobMatchesItsName();
}

// Two pulls of different images under one --name, both held (BANGER_TEST_STALL) past the
// early "exists" check and then let go together, so that they meet where they publish.
TEST_F(Lifecycle, TwoPullsRacingForOneNamePublishOneImage) {
  for (bool force : {false, true}) {
    for (int round = 0; round < 10; ++round) {
      const std::string tag = (force ? "force-" : "plain-") + std::to_string(round);
      std::vector<std::string> stalls;
      std::vector<std::unique_ptr<BackgroundCommand>> pulls;
      for (const char* repo : {"demo/app", "demo/other"}) {
        stalls.push_back(work_.path() + "/stall-" + tag + "-" + std::to_string(stalls.size()));
        pulls.push_back(Start(std::string("image pull -q --name racer ") + (force ? "--force " : "") + Ref(repo),
                              "BANGER_TEST_STALL=" + stalls.back() + " "));
      }
      ASSERT_TRUE(WaitFor([&] {
        return ::access(stalls[0].c_str(), F_OK) == 0 && ::access(stalls[1].c_str(), F_OK) == 0;
      }, 30000)) << tag << ": " << pulls[0]->Output() << pulls[1]->Output();
      for (const auto& stall : stalls) ::unlink(stall.c_str());
      int succeeded = 0;
      for (auto& pull : pulls) {
        const int status = pull->Wait(60000);
        if (status == 0) {
          ++succeeded;
        } else {
          EXPECT_EQ(status, 1) << tag;
          EXPECT_NE(pull->Output().find("an image named 'racer' exists (--force replaces it)"), std::string::npos)
              << tag << ": " << pull->Output();
        }
      }
      EXPECT_EQ(succeeded, force ? 2 : 1) << tag;
      const json list = json::parse(Banger("image list --json").output);
      ASSERT_EQ(list.size(), 1u) << tag << ": one name, one image: " << list.dump();
      EXPECT_EQ(list[0]["name"], "racer");
      EXPECT_EQ(RunCommand("ls -A " + state_.path() + "/images").output, list[0]["id"].get<std::string>() + "\n")
          << tag << ": nothing else is left in the store";
      ASSERT_EQ(Banger("image rm -q racer").exit_status, 0);
    }
  }
}

}  // namespace
}  // namespace banger::testing
