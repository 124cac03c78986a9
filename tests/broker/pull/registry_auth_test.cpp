// Private registries: basic auth (htpasswd), bearer tokens from a loopback token server,
// credentials from a docker config.json and from a credential helper on PATH.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

#include <gtest/gtest.h>

#include "broker/registry/credentials.h"
#include "broker/pull/fetch.h"
#include "tests/broker/pull/fetch_fixture.h"

namespace banger::broker {
namespace {

using testing::ScratchDir;
using testing::TestRegistry;

// What a credential helper runs with: this test's PATH, as the tests set it.
std::vector<std::string> HelperEnvironment() { return {"PATH=" + std::string(std::getenv("PATH"))}; }

class RegistryAuth : public FetchTest {
 protected:
  // A registry requiring `user_pass` (basic, or bearer when `token`), holding private/app:v1.
  std::unique_ptr<TestRegistry> StartPrivate(const std::string& user_pass, bool token = false) {
    auto registry = TestRegistry::Start(token ? TestRegistry::Options{.token = user_pass}
                                              : TestRegistry::Options{.htpasswd = user_pass});
    if (registry && registry->Push("private/app", "v1", {}, user_pass).is_null()) return nullptr;
    return registry;
  }
  // config.json with one "auth" entry for `registry`.
  std::string ConfigWithAuth(const std::string& registry, const std::string& user_pass) {
    return WriteDockerConfig(R"({"auths": {")" + registry + R"(": {"auth": ")" + Base64(user_pass) + R"("}}})");
  }
  // Writes config.json in a DOCKER_CONFIG-style directory and returns its path.
  std::string WriteDockerConfig(const std::string& json) {
    const std::string path = config_dir_.path() + "/config.json";
    std::ofstream(path) << json;
    return path;
  }
  Result<FetchedImage> FetchWithConfig(const std::string& ref, const std::string& config_path) {
    FetchOptions options = OptionsFor(ref);
    options.credentials = [config_path](const std::string& registry) {
      return LookupCredentialsIn(config_path, registry, HelperEnvironment());
    };
    return FetchImage(*cache_, options);
  }
  static std::string Base64(const std::string& s) {
    testing::CommandResult r = testing::RunCommand("printf %s '" + s + "' | base64 -w0");
    return r.output;
  }
  ScratchDir config_dir_{"banger-docker-config"};
};

TEST_F(RegistryAuth, BasicAuthFromDockerConfigAuths) {
  auto registry = StartPrivate("alice:s3cret");
  ASSERT_TRUE(registry);
  auto image = FetchWithConfig(registry->host() + "/private/app:v1", ConfigWithAuth(registry->host(), "alice:s3cret"));
  ASSERT_TRUE(image) << image.error().message;
  EXPECT_EQ(image->layers.size(), 2u);
}

TEST_F(RegistryAuth, BasicAuthWithUsernameAndPasswordFields) {
  auto registry = StartPrivate("alice:s3cret");
  ASSERT_TRUE(registry);
  const std::string config = WriteDockerConfig(R"({"auths": {"http://)" + registry->host() +
                                               R"(/v2/": {"username": "alice", "password": "s3cret"}}})");
  auto image = FetchWithConfig(registry->host() + "/private/app:v1", config);
  ASSERT_TRUE(image) << image.error().message;
}

TEST_F(RegistryAuth, WrongOrMissingCredentialsAreUnauthorizedNamingTheRegistry) {
  auto registry = StartPrivate("alice:s3cret");
  ASSERT_TRUE(registry);
  auto denied = FetchWithConfig(registry->host() + "/private/app:v1", ConfigWithAuth(registry->host(), "alice:wrong"));
  ASSERT_FALSE(denied);
  EXPECT_NE(denied.error().message.find("unauthorized"), std::string::npos) << denied.error().message;
  EXPECT_NE(denied.error().message.find(registry->host()), std::string::npos) << denied.error().message;

  auto anonymous = FetchWithConfig(registry->host() + "/private/app:v1", config_dir_.path() + "/absent.json");
  ASSERT_FALSE(anonymous);
  EXPECT_NE(anonymous.error().message.find("unauthorized"), std::string::npos) << anonymous.error().message;
  EXPECT_NE(anonymous.error().message.find("requires credentials"), std::string::npos) << anonymous.error().message;
}

TEST_F(RegistryAuth, BearerTokenFromALoopbackTokenServer) {
  auto registry = StartPrivate("bob:t0ken-pass", /*token=*/true);
  ASSERT_TRUE(registry);
  auto image = FetchWithConfig(registry->host() + "/private/app:v1", ConfigWithAuth(registry->host(), "bob:t0ken-pass"));
  ASSERT_TRUE(image) << image.error().message;
  EXPECT_EQ(image->layers.size(), 2u);

  ScratchDir other_dir("banger-cache2");
  auto other_cache = NewCache(other_dir);
  FetchOptions options = OptionsFor(registry->host() + "/private/app:v1", {"bob", "nope", ""});
  auto denied = FetchImage(*other_cache, options);
  ASSERT_FALSE(denied);
  EXPECT_NE(denied.error().message.find("unauthorized"), std::string::npos) << denied.error().message;
}

TEST_F(RegistryAuth, CredentialHelperOnPath) {
  auto registry = StartPrivate("carol:helper-pass");
  ASSERT_TRUE(registry);
  ScratchDir bin("banger-helper-bin");
  const std::string log = bin.path() + "/asked";
  const std::string helper = bin.path() + "/docker-credential-bangertest";
  std::ofstream(helper) << "#!/bin/sh\n"
                           "[ \"$1\" = get ] || exit 1\n"
                           "read server; echo \"$server\" > " << log << "\n"
                           "printf '{\"ServerURL\":\"%s\",\"Username\":\"carol\",\"Secret\":\"helper-pass\"}' \"$server\"\n";
  ::chmod(helper.c_str(), 0755);
  const std::string old_path = std::getenv("PATH");
  ::setenv("PATH", (bin.path() + ":" + old_path).c_str(), 1);
  const std::string config = WriteDockerConfig(R"({"credHelpers": {")" + registry->host() + R"(": "bangertest"}})");
  auto image = FetchWithConfig(registry->host() + "/private/app:v1", config);
  ::setenv("PATH", old_path.c_str(), 1);
  ASSERT_TRUE(image) << image.error().message;
  std::ifstream asked(log);
  std::string server;
  std::getline(asked, server);
  EXPECT_EQ(server, registry->host()) << "the helper was asked for this registry";
}

// As root, a credential helper is looked up only in PATH directories no one but root
// could have changed: a helper planted in a world-writable PATH entry ahead of the
// trusted one is not run, and with only that entry none is found.
TEST(Credentials, RootRunsHelpersOnlyFromDirectoriesOnlyRootControls) {
  BANGER_REQUIRE_ROOT();
  ScratchDir trusted("banger-helper-bin"), scratch("banger-helper-planted"), config("banger-docker-config");
  const std::string planted = scratch.path() + "/open";
  ASSERT_EQ(::mkdir(planted.c_str(), 0777), 0);
  ASSERT_EQ(::chmod(planted.c_str(), 0777), 0);
  for (const auto& [dir, user] : {std::pair{trusted.path(), "trusted"}, std::pair{planted, "planted"}}) {
    const std::string helper = dir + "/docker-credential-bangerpath";
    std::ofstream(helper) << "#!/bin/sh\nprintf '{\"Username\":\"" << user << "\",\"Secret\":\"s\"}'\n";
    ::chmod(helper.c_str(), 0755);
  }
  std::ofstream(config.path() + "/config.json") << R"({"credsStore": "bangerpath"})";
  HostEnvironment env;
  env.root = true;
  env.docker_config = config.path();
  env.variables = {"PATH=" + planted + ":" + trusted.path() + ":/usr/bin:/bin"};
  auto found = LookupCredentials(env, "registry.example");
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(found->username, "trusted") << "the helper planted in a world-writable directory ran as root";
  env.variables = {"PATH=" + planted + ":/usr/bin:/bin"};
  auto none = LookupCredentials(env, "registry.example");
  ASSERT_FALSE(none) << "found " << none->username;
  // Not as root: the user's PATH is the user's.
  env.root = false;
  auto users = LookupCredentials(env, "registry.example");
  ASSERT_TRUE(users) << users.error().message;
  EXPECT_EQ(users->username, "planted");
}

TEST(Credentials, DockerHubAliasesAndPrecedence) {
  ScratchDir dir("banger-docker-config");
  const std::string path = dir.path() + "/config.json";
  std::ofstream(path) << R"({"auths": {"https://index.docker.io/v1/": {"auth": "dTpw"},
                                       "ghcr.io": {"identitytoken": "refresh-me"}}})";
  auto hub = LookupCredentialsIn(path, "docker.io", HelperEnvironment());
  ASSERT_TRUE(hub) << hub.error().message;
  EXPECT_EQ(hub->username, "u");
  EXPECT_EQ(hub->password, "p");
  auto ghcr = LookupCredentialsIn(path, "ghcr.io", HelperEnvironment());
  ASSERT_TRUE(ghcr);
  EXPECT_EQ(ghcr->identity_token, "refresh-me");
  auto none = LookupCredentialsIn(path, "quay.io", HelperEnvironment());
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->username.empty() && none->identity_token.empty());
  std::ofstream(path) << "{not json";
  auto broken = LookupCredentialsIn(path, "docker.io", HelperEnvironment());
  ASSERT_FALSE(broken);
  EXPECT_NE(broken.error().message.find(path), std::string::npos);
}


TEST_F(RegistryAuth, IdentityTokenUsesTheRefreshGrant) {
  auto registry = StartPrivate("dave:refresh-secret", /*token=*/true);
  ASSERT_TRUE(registry);
  const std::string config =
      WriteDockerConfig(R"({"auths": {")" + registry->host() + R"(": {"identitytoken": "refresh-secret"}}})");
  auto image = FetchWithConfig(registry->host() + "/private/app:v1", config);
  ASSERT_TRUE(image) << image.error().message;
  std::ifstream log(registry->root() + "/token.log");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("\"grant\": \"refresh_token\""), std::string::npos) << text;
}

TEST_F(RegistryAuth, CredsStoreHelperServesEveryRegistry) {
  auto registry = StartPrivate("erin:store-pass");
  ASSERT_TRUE(registry);
  ScratchDir bin("banger-helper-bin");
  const std::string helper = bin.path() + "/docker-credential-bangerstore";
  std::ofstream(helper) << "#!/bin/sh\nread server\n"
                           "printf '{\"ServerURL\":\"%s\",\"Username\":\"erin\",\"Secret\":\"store-pass\"}' \"$server\"\n";
  ::chmod(helper.c_str(), 0755);
  const std::string old_path = std::getenv("PATH");
  ::setenv("PATH", (bin.path() + ":" + old_path).c_str(), 1);
  auto image = FetchWithConfig(registry->host() + "/private/app:v1", WriteDockerConfig(R"({"credsStore": "bangerstore"})"));
  ::setenv("PATH", old_path.c_str(), 1);
  ASSERT_TRUE(image) << image.error().message;
}

TEST_F(RegistryAuth, FailingHelperIsANamedError) {
  ScratchDir bin("banger-helper-bin");
  const std::string helper = bin.path() + "/docker-credential-broken";
  std::ofstream(helper) << "#!/bin/sh\necho 'keychain is locked' >&2\nexit 1\n";
  ::chmod(helper.c_str(), 0755);
  const std::string old_path = std::getenv("PATH");
  ::setenv("PATH", (bin.path() + ":" + old_path).c_str(), 1);
  auto creds = LookupCredentialsIn(WriteDockerConfig(R"({"credsStore": "broken"})"), "ghcr.io", HelperEnvironment());
  ::setenv("PATH", old_path.c_str(), 1);
  ASSERT_FALSE(creds);
  EXPECT_EQ(creds.error().message, "docker-credential-broken get failed for ghcr.io: keychain is locked");
}

}  // namespace
}  // namespace banger::broker
