// bangerd with real users (docs/multi-tenant.md), what is each tenant's: images of their
// own (an admin sees all, with owners), credentials that serve only their owner, a shared
// cache that serves a tenant only what the registry would send it, and files a tenant
// receives created by its own client.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

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

TEST_F(Daemon, TenantsPullImagesOfTheirOwnAndEachRequestIsAuditedUnderTheirUid) {
  CommandResult alice = As(alice_, "image pull -q " + Ref());
  ASSERT_EQ(alice.exit_status, 0) << alice.output << daemon_->Output();
  // The same default name for bob: names are per tenant.
  CommandResult bob = As(bob_, "image pull " + Ref());
  ASSERT_EQ(bob.exit_status, 0) << bob.output;
  EXPECT_NE(bob.output.find("pulled demo-app-v1"), std::string::npos) << bob.output;

  EXPECT_EQ(RunCommand("stat -c %a " + state_.path() + "/tenants/" + std::to_string(TestAccounts::Uid(alice_))).output,
            "700\n");
  CommandResult removed = As(bob_, "image rm demo-app-v1");
  EXPECT_EQ(removed.exit_status, 0) << removed.output;
  EXPECT_EQ(As(bob_, "image list").output.find("demo-app-v1"), std::string::npos) << "bob's image is gone";
  CommandResult listed = As(alice_, "image list --json");
  EXPECT_NE(listed.output.find("demo-app-v1"), std::string::npos) << "alice's is not: " << listed.output;

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
  EXPECT_EQ(As(bob_, "image list").output.find("demo-app-v1"), std::string::npos);
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

  CommandResult inspected = As(dave_, "image inspect " + alice_ + "/demo-app-v1");
  EXPECT_EQ(inspected.exit_status, 0) << inspected.output;
  EXPECT_NE(inspected.output.find("/tenants/" + std::to_string(TestAccounts::Uid(alice_)) + "/"), std::string::npos)
      << inspected.output;
  CommandResult reached = As(alice_, "image rm " + bob_ + "/demo-app-v1");
  EXPECT_EQ(reached.exit_status, 1) << reached.output;
  EXPECT_NE(reached.output.find("OWNER/NAME is for admins"), std::string::npos) << reached.output;
  CommandResult removed = As(dave_, "image rm " + bob_ + "/demo-app-v1");
  EXPECT_EQ(removed.exit_status, 0) << removed.output;
  EXPECT_EQ(As(bob_, "image list").output.find("demo-app-v1"), std::string::npos);
  EXPECT_NE(As(alice_, "image list").output.find("demo-app-v1"), std::string::npos);
  const std::vector<json> records = RecordsOf(TestAccounts::Uid(dave_), "image rm");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0]["argv"], (json{"banger", "image", "rm", bob_ + "/demo-app-v1"}));
}

// A file a tenant receives travels as an fd the client opened: the bundle is written into
// a file the client created as the tenant, and published by the client; a path the
// tenant cannot write is never opened by root.
TEST_F(Daemon, ATenantsBundleGoesIntoAFileTheClientOpened) {
  ASSERT_EQ(As(alice_, "image pull -q " + Ref()).exit_status, 0);
  const std::string mine = dir_.path() + "/alices";
  ASSERT_EQ(RunCommand("mkdir " + mine + " && chown " + alice_ + " " + mine).exit_status, 0);
  CommandResult bundled = As(alice_, "image bundle demo-app-v1 --out " + mine + "/app.tar.zst");
  ASSERT_EQ(bundled.exit_status, 0) << bundled.output;
  const json entry = json::parse(bundled.output, nullptr, false);
  ASSERT_TRUE(entry.is_object()) << bundled.output;
  EXPECT_EQ(RunCommand("stat -c %U " + mine + "/app.tar.zst").output, alice_ + "\n") << "the client made it";
  EXPECT_EQ(RunCommand("sha256sum " + mine + "/app.tar.zst | cut -d' ' -f1").output, entry["sha256"].get<std::string>() + "\n");
  EXPECT_EQ(RunCommand("zstd -dc " + mine + "/app.tar.zst | tar -t").output, "manifest.json\nrootfs.ext4\n");
  EXPECT_EQ(RunCommand("ls -A " + mine).output, "app.tar.zst\n") << "nothing staged is left";

  // Where alice cannot write, nothing is written, by her client or by root.
  CommandResult refused = As(alice_, "image bundle demo-app-v1 --out " + dir_.path() + "/rootowned.tar.zst");
  EXPECT_EQ(refused.exit_status, 1) << refused.output;
  EXPECT_NE(refused.output.find("creating " + dir_.path() + "/rootowned.tar.zst"), std::string::npos) << refused.output;
  EXPECT_FALSE(::access((dir_.path() + "/rootowned.tar.zst").c_str(), F_OK) == 0);
  // Nor into memory: a file on tmpfs (or a memfd) is refused, and the staged file goes.
  CommandResult in_memory = As(alice_, "image bundle demo-app-v1 --out /dev/shm/banger-test-" + alice_ + ".tar.zst");
  EXPECT_EQ(in_memory.exit_status, 1) << in_memory.output;
  EXPECT_NE(in_memory.output.find("must be a file on a disk"), std::string::npos) << in_memory.output;
  EXPECT_EQ(RunCommand("ls /dev/shm | grep -c banger-test-" + alice_).output, "0\n");
  // A failed bundle leaves no staged file.
  CommandResult missing = As(alice_, "image bundle nosuch --out " + mine + "/none.tar.zst");
  EXPECT_EQ(missing.exit_status, 1) << missing.output;
  EXPECT_EQ(RunCommand("ls -A " + mine).output, "app.tar.zst\n");
}

}  // namespace
}  // namespace banger::testing
