// The banger executable as a user meets it: --help, usage errors, and `system status`
// from the build tree, from an installed tree, and as a non-root user.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "broker/cli/cli.h"
#include "broker/cli/context.h"
#include "broker/cli/flags.h"
#include "broker/store/audit_log.h"
#include "tests/support/registry_fixture.h"
#include "tests/support/test_support.h"

namespace banger::testing {
namespace {


TEST(Cli, HelpTellsWhatExists) {
  CommandResult r = RunCommand(kBin + "/banger --help");
  EXPECT_EQ(r.exit_status, 0);
  EXPECT_NE(r.output.find("system status"), std::string::npos);
  EXPECT_NE(r.output.find("exit status"), std::string::npos);
}

TEST(Cli, VersionPrintsOneLine) {
  CommandResult r = RunCommand(kBin + "/banger --version");
  EXPECT_EQ(r.exit_status, 0);
  EXPECT_EQ(r.output.rfind("banger ", 0), 0u);
}

TEST(Cli, UnknownCommandIsAUsageError) {
  CommandResult r = RunCommand(kBin + "/banger frobnicate");
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_NE(r.output.find("banger: error: unknown command 'frobnicate'"), std::string::npos) << r.output;
  EXPECT_EQ(RunCommand(kBin + "/banger").exit_status, 2);
}

// No silent fallbacks (#18): a relative state or cache dir or config is an error naming
// it, never the defaults; listing creates nothing; a registry flag written as a URL or a
// range says what it wants. Before, each was taken quietly.
TEST(CliFallbacks, WhatWouldBeIgnoredIsAnErrorNamingIt) {
  ScratchDir dir("banger-fallbacks");
  const std::string banger = kBin + "/banger ";
  const struct {
    std::string env, says;
  } cases[] = {
      {"BANGER_STATE_DIR=relative/state", "banger: error: BANGER_STATE_DIR must be an absolute path, not 'relative/state'"},
      {"BANGER_CACHE_DIR=cache", "banger: error: BANGER_CACHE_DIR must be an absolute path, not 'cache'"},
      {"BANGER_CONFIG=config", "banger: error: BANGER_CONFIG must be an absolute path, not 'config'"},
  };
  for (const auto& c : cases) {
    CommandResult r = RunCommand("env BANGER_STATE_DIR=" + dir.path() + "/s BANGER_CACHE_DIR=" + dir.path() + "/c " + c.env +
                                 " " + banger + "image list 2>&1");
    EXPECT_EQ(r.exit_status, 1) << c.env << ": " << r.output;
    EXPECT_NE(r.output.find(c.says), std::string::npos) << c.env << ": " << r.output;
  }
  // Listing an empty store prints nothing and makes no directory.
  CommandResult listed = RunCommand(BangerCommand(dir.path() + "/state", dir.path() + "/cache") + "image list --json 2>&1");
  EXPECT_EQ(listed.exit_status, 0) << listed.output;
  EXPECT_EQ(listed.output, "[]\n");
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/state")) << "image list created the state dir";
  for (const std::string& flag : {std::string("http://registry.local:5000"), std::string("10.0.0.0/8")}) {
    CommandResult pulled = RunCommand(BangerCommand(dir.path() + "/state", dir.path() + "/cache") +
                                      "image pull --insecure-registry " + flag + " registry.local:5000/app:1 2>&1");
    EXPECT_EQ(pulled.exit_status, 2) << pulled.output;
    EXPECT_NE(pulled.output.find("banger: error: --insecure-registry wants a registry host[:port], not '" + flag + "'"),
              std::string::npos)
        << pulled.output;
  }
  CommandResult hinted = RunCommand(BangerCommand(dir.path() + "/state", dir.path() + "/cache") +
                                    "image fetch --insecure-registry http://registry.local:5000 registry.local:5000/app:1 2>&1");
  EXPECT_NE(hinted.output.find("(without the scheme: registry.local:5000)"), std::string::npos) << hinted.output;
}

void ExpectAllHelpersConfined(const CommandResult& r) {
  EXPECT_EQ(r.exit_status, 0) << r.output;
  EXPECT_NE(r.output.find("sandbox: ok"), std::string::npos) << r.output;
  for (const char* helper : {"banger-fetcher", "banger-unpacker", "banger-imager"}) {
    EXPECT_NE(r.output.find(std::string(helper) + " "), std::string::npos) << helper;
  }
  size_t confined = 0;
  for (size_t at = r.output.find("confined"); at != std::string::npos; at = r.output.find("confined", at + 1)) {
    ++confined;
  }
  EXPECT_EQ(confined, 3u) << r.output;
}

TEST(Cli, SystemStatusFromTheBuildTree) {
  ExpectAllHelpersConfined(RunCommand(kBin + "/banger system status"));
  // --json: the same facts as one result event (#18: any flag was "unknown 'system' command").
  CommandResult json = RunCommand(kBin + "/banger system status --json");
  ASSERT_EQ(json.exit_status, 0) << json.output;
  const auto status = nlohmann::json::parse(json.output, nullptr, false);
  ASSERT_TRUE(status.is_object()) << json.output;
  EXPECT_EQ(status["event"], "result");
  EXPECT_EQ(status["schema"], 1);
  EXPECT_EQ(status["sandbox_ok"], true);
  ASSERT_EQ(status["helpers"].size(), 3u) << json.output;
  for (const auto& helper : status["helpers"]) {
    EXPECT_EQ(helper["confined"], true) << helper.dump();
    EXPECT_EQ(helper["no_new_privs"], true) << helper.dump();
    EXPECT_EQ(helper["seccomp_mode"], 2) << helper.dump();
    EXPECT_EQ(helper["cap_eff"], 0) << helper.dump();
  }
}

TEST(Cli, SystemStatusFromAnInstalledTree) {
  ScratchDir prefix("banger-install");
  CommandResult install =
      RunCommand("cmake --install " + std::string(BANGER_BUILD_DIR) + " --prefix " + prefix.path());
  ASSERT_EQ(install.exit_status, 0) << install.output;
  ASSERT_EQ(::access((prefix.path() + "/libexec/banger/banger-unpacker").c_str(), X_OK), 0);
  ASSERT_NE(::access((prefix.path() + "/bin/banger-unpacker").c_str(), F_OK), 0)
      << "helpers belong in libexec, not on PATH";
  ExpectAllHelpersConfined(RunCommand(prefix.path() + "/bin/banger system status"));
}

TEST(Cli, SystemStatusAsNonRootUsesAUserNamespace) {
  BANGER_REQUIRE_ROOT();
  ScratchDir dir("banger-nobody");
  for (const char* name : {"banger", "banger-fetcher", "banger-unpacker", "banger-imager"}) {
    CopyExecutable(kBin + "/" + name, dir.path());
  }
  std::string failure = RunAsNobody([&] {
    CommandResult r = RunCommand(dir.path() + "/banger system status");
    if (r.exit_status != 0 || r.output.find("sandbox: ok") == std::string::npos ||
        r.output.find("user namespace") == std::string::npos) {
      return "exit " + std::to_string(r.exit_status) + ": " + r.output;
    }
    return std::string();
  });
  EXPECT_EQ(failure, "");
}

TEST(Cli, MissingHelperIsNamed) {
  ScratchDir dir("banger-partial");
  CopyExecutable(kBin + "/banger", dir.path());
  CommandResult r = RunCommand(dir.path() + "/banger system status");
  EXPECT_EQ(r.exit_status, 3);
  EXPECT_NE(r.output.find("helper banger-fetcher not found"), std::string::npos) << r.output;
}


TEST(CliImageFetch, DownloadsIntoTheCacheAndReports) {
  auto registry = TestRegistry::Start();
  ASSERT_TRUE(registry);
  ASSERT_FALSE(registry->Push("app", "v1", {"--layers", "3"}).is_null());
  ScratchDir cache("banger-cli-cache");
  const std::string env = "BANGER_CACHE_DIR=" + cache.path() + " DOCKER_CONFIG=" + cache.path() + " ";
  CommandResult r = RunCommand(env + kBin + "/banger image fetch " + registry->host() + "/app:v1 --parallel 2");
  EXPECT_EQ(r.exit_status, 0) << r.output;
  EXPECT_NE(r.output.find("3 layer(s)"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("cached"), std::string::npos) << "nothing was cached the first time";

  CommandResult again = RunCommand(env + kBin + "/banger image fetch --json " + registry->host() + "/app:v1");
  ASSERT_EQ(again.exit_status, 0) << again.output;
  auto json = nlohmann::json::parse(again.output);
  EXPECT_EQ(again.output.find('\n'), again.output.size() - 1) << "one event, one line";
  EXPECT_EQ(json["event"], "result");
  EXPECT_EQ(json["ref"], registry->host() + "/app:v1") << "ref, as pull's events say it";
  EXPECT_EQ(json["layers"].size(), 3u);
  EXPECT_EQ(json["downloaded_bytes"], 0);
  for (const auto& l : json["layers"]) EXPECT_TRUE(l["cached"].get<bool>());
  EXPECT_EQ(json["cache_dir"], cache.path() + "/oci/blobs/sha256");

  CommandResult quiet = RunCommand(env + kBin + "/banger image fetch -q " + registry->host() + "/app:v1");
  EXPECT_EQ(quiet.exit_status, 0);
  EXPECT_EQ(quiet.output, registry->host() + "/app:v1\n") << "-q prints the reference, as docker pull -q does";
}

TEST(CliImageFetch, ErrorsAreOneLineWithTheReference) {
  auto registry = TestRegistry::Start();
  ASSERT_TRUE(registry);
  ScratchDir cache("banger-cli-cache");
  const std::string env = "BANGER_CACHE_DIR=" + cache.path() + " DOCKER_CONFIG=" + cache.path() + " ";
  CommandResult missing = RunCommand(env + kBin + "/banger image fetch " + registry->host() + "/nope:v1");
  EXPECT_EQ(missing.exit_status, 1);
  EXPECT_EQ(missing.output, "banger: error: manifest unknown: " + registry->host() + "/nope:v1 not found\n")
      << "the reference once: the message names it, so no (REF) follows";
  CommandResult bad = RunCommand(env + kBin + "/banger image fetch 'Not A Ref'");
  EXPECT_EQ(bad.exit_status, 1);
  EXPECT_EQ(bad.output.rfind("banger: error: invalid reference", 0), 0u) << bad.output;
  EXPECT_EQ(RunCommand(env + kBin + "/banger image fetch x --parallel 0").exit_status, 2);
  EXPECT_EQ(RunCommand(env + kBin + "/banger image fetch x --bogus").exit_status, 2);
  EXPECT_EQ(RunCommand(env + kBin + "/banger image fetch").exit_status, 2);
}

// Every error path, again with --json (#18): the same one line on stderr, and on stdout
// exactly one error event of schema 1 whose message is that line and whose code says
// what the exit status says.
TEST(CliJson, EveryErrorIsAlsoOneErrorEvent) {
  auto registry = TestRegistry::Start();
  ASSERT_TRUE(registry);
  ScratchDir dir("banger-cli-json");
  const std::string env = "env BANGER_STATE_DIR=" + dir.path() + "/state BANGER_CACHE_DIR=" + dir.path() +
                          "/cache DOCKER_CONFIG=" + dir.path() + " ";
  // The other error paths of these tests: banger without its helpers, a relative state
  // dir, a config that is not there, a registry flag written as a URL.
  ASSERT_EQ(::mkdir((dir.path() + "/partial").c_str(), 0755), 0);
  CopyExecutable(kBin + "/banger", dir.path() + "/partial");
  const std::string partial = env + dir.path() + "/partial/banger ";
  const std::string relative = "env BANGER_STATE_DIR=relative/state " + kBin + "/banger ";
  const std::string missing_config = env + "BANGER_CONFIG=" + dir.path() + "/no-config " + kBin + "/banger ";
  const std::string banger = env + kBin + "/banger ";
  const struct {
    std::string args;
    int status;
    std::string code;
    std::string command = "";  // the banger and its environment, when not `banger`
  } cases[] = {
      {"system status", 3, "sandbox", partial},
      {"image list", 1, "error", relative},
      {"image list", 1, "error", missing_config},
      {"image pull --insecure-registry http://registry.local:5000 registry.local:5000/app:1", 2, "usage"},
      {"image pull 'Bad Ref'", 1, "error"},
      {"image pull docker-archive:/tmp/x.tar", 1, "error"},
      {"image pull " + registry->host() + "/nope:v1", 1, "error"},
      {"image pull --bogus x", 2, "usage"},
      {"image pull", 2, "usage"},
      {"image fetch " + registry->host() + "/nope:v1", 1, "error"},
      {"image verify 'Not A Ref'", 1, "error"},
      {"image inspect nope", 1, "error"},
      {"image rm nope", 1, "error"},
      {"image list --limit 1", 2, "usage"},
      {"image frob", 2, "usage"},
      {"system audit verify " + dir.path() + "/no-such.log", 1, "error"},
      {"image bundle nope --out " + dir.path() + "/b.tar.zst", 1, "error"},
      {"image bundle x", 2, "usage"},
  };
  for (const auto& c : cases) {
    const std::string err = dir.path() + "/err";
    // Braced: RunCommand sends the group's stderr to stdout, not the command's.
    const std::string command = c.command.empty() ? banger : c.command;
    CommandResult plain = RunCommand("{ " + command + c.args + " 2>" + err + "; }");
    const std::string stderr_text = ReadFile(err);
    EXPECT_EQ(plain.exit_status, c.status) << c.args << ": " << stderr_text;
    EXPECT_EQ(stderr_text.rfind("banger: error: ", 0), 0u) << c.args << ": " << stderr_text;
    std::vector<std::string> messages;  // each error line, without its prefix
    std::istringstream stderr_lines(stderr_text);
    for (std::string line; std::getline(stderr_lines, line);) {
      if (line.rfind("banger: error: ", 0) == 0) messages.push_back(line.substr(15));
    }
    ASSERT_FALSE(messages.empty()) << c.args << ": no error line: " << stderr_text;

    CommandResult json = RunCommand("{ " + command + c.args + " --json 2>" + err + "; }");
    EXPECT_EQ(json.exit_status, c.status) << c.args;
    EXPECT_EQ(ReadFile(err).rfind("banger: error: " + messages[0] + "\n", 0), 0u) << c.args << ": stderr keeps the line";
    std::vector<std::string> events;  // the error events' messages
    std::istringstream lines(json.output);
    for (std::string event; std::getline(lines, event);) {
      const auto parsed = nlohmann::json::parse(event, nullptr, false);
      ASSERT_TRUE(parsed.is_object()) << c.args << ": not a JSON object: " << event;
      EXPECT_EQ(parsed["schema"], 1) << event;
      if (parsed["event"] != "error") continue;
      events.push_back(parsed.value("message", ""));
      EXPECT_EQ(parsed["code"], c.code) << c.args;
      EXPECT_EQ(parsed["exit"], c.status) << c.args;
    }
    // One event per error line, in order: one for each of these but a status whose three
    // helpers are each missing.
    EXPECT_EQ(events, messages) << c.args << ": " << json.output;
    EXPECT_EQ(events.size(), c.args == "system status" ? 3u : 1u) << c.args;
  }
}

// bangerd runs a tenant's `image bundle` only into the file the client passed: a request
// without one is refused before root looks at the path it names, so whether a file
// exists where the tenant cannot look is no answer of bangerd's.
TEST(CliForATenant, ABundleWithoutTheClientsFileLooksAtNoPath) {
  ScratchDir dir("banger-cli-tenant");
  const std::string config = dir.path() + "/config";
  std::ofstream(config) << "state_dir = " << dir.path() << "/state\ncache_dir = " << dir.path()
                        << "/cache\naudit_log = " << dir.path() << "/audit.log\naudit_syslog = none\n";
  std::ofstream(dir.path() + "/secret") << "root's";
  broker::Requester tenant;
  tenant.uid = tenant.gid = 65534;
  tenant.user = "nobody";
  tenant.through_daemon = true;
  for (const std::string& path : {dir.path() + "/secret", dir.path() + "/absent"}) {
    std::ostringstream out, err;
    const int status = broker::RunCliFor(tenant, config, false, 0, -1, {"image", "bundle", "x", "--out", path}, out, err);
    EXPECT_EQ(status, 1) << path;
    EXPECT_EQ(err.str(), "banger: error: through bangerd, --out is a file the client creates and passes\n") << path;
  }
}

// `system audit verify` on a log AuditLog wrote: the untouched chain passes with its
// head; an edited record is exit 1 naming the file and line; a head the log lacks too.
TEST(CliAudit, VerifyPassesTheUntouchedLogAndNamesABrokenLink) {
  ScratchDir dir("banger-audit");
  const std::string log_path = dir.path() + "/audit.log";
  auto log = broker::AuditLog::Open(log_path);
  ASSERT_TRUE(log) << log.error().message;
  std::string head;
  for (const char* request : {"pull", "rm", "prune"}) {
    auto written = log->Append(nlohmann::json{{"request", request}});
    ASSERT_TRUE(written) << written.error().message;
    head = written->hash;
  }
  CommandResult ok = RunCommand(kBin + "/banger system audit verify --head " + head + " " + log_path);
  EXPECT_EQ(ok.exit_status, 0) << ok.output;
  EXPECT_NE(ok.output.find("audit log verified: 3 record(s), 1 to 3, head " + head), std::string::npos) << ok.output;
  CommandResult json = RunCommand("{ " + kBin + "/banger system audit verify --json " + log_path + " 2>/dev/null; }");
  EXPECT_EQ(nlohmann::json::parse(json.output, nullptr, false).value("records", 0), 3) << json.output;

  ASSERT_EQ(RunCommand("sed -i 's/\"rm\"/\"ls\"/' " + log_path).exit_status, 0);
  CommandResult edited = RunCommand(kBin + "/banger system audit verify " + log_path);
  EXPECT_EQ(edited.exit_status, 1) << edited.output;
  EXPECT_NE(edited.output.find("banger: error: " + log_path + " line 3: its prev is not the hash of the record before"),
            std::string::npos)
      << edited.output;
  CommandResult bad_head = RunCommand(kBin + "/banger system audit verify --head nothex " + log_path);
  EXPECT_EQ(bad_head.exit_status, 2) << bad_head.output;
}

TEST(Flags, ParsesValuesBooleansAndRepeats) {
  broker::FlagSpec spec{{"--platform", "--insecure-registry"}, {"--json", "-q"}, {"--insecure-registry"}};
  auto parsed = broker::ParseFlags({"ref", "--platform=linux/arm64", "--insecure-registry", "a:1",
                                    "--insecure-registry=b:2", "-q", "--", "--json"},
                                   spec);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->positional, (std::vector<std::string>{"ref", "--json"}));
  EXPECT_EQ(parsed->Value("--platform"), "linux/arm64");
  EXPECT_EQ(parsed->All("--insecure-registry"), (std::vector<std::string>{"a:1", "b:2"}));
  EXPECT_TRUE(parsed->Has("-q"));
  EXPECT_FALSE(parsed->Has("--json"));
  EXPECT_FALSE(broker::ParseFlags({"--platform"}, spec));
  EXPECT_FALSE(broker::ParseFlags({"--platform", "a", "--platform", "b"}, spec));
  EXPECT_FALSE(broker::ParseFlags({"--json=1"}, spec));
  EXPECT_FALSE(broker::ParseIntFlag("--parallel", "3x", 1, 16));
  EXPECT_EQ(*broker::ParseIntFlag("--parallel", "16", 1, 16), 16);
}

}  // namespace
}  // namespace banger::testing
