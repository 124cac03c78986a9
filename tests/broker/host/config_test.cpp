// The config file (broker/host/config.h): every key parsed, every mistake one error
// naming file:line, $BANGER_CONFIG, the state and cache dirs' precedence, the helpers'
// user, and the banger CLI reading it.
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "broker/cli/context.h"
#include "broker/host/config.h"
#include "broker/host/user_dirs.h"
#include "ipc/unpack_protocol.h"
#include "security/sandbox_spec.h"
#include "tests/support/test_support.h"

namespace banger::testing {
namespace {

using broker::Config;
using broker::ParseConfig;


void WriteFile(const std::string& path, const std::string& text, mode_t mode = 0644) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
}

// Puts the environment variables back as they were.
class ConfigEnvironment : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const char* name : {"BANGER_CONFIG", "BANGER_STATE_DIR", "BANGER_CACHE_DIR"}) ::unsetenv(name);
  }
};

TEST(Config, ParsesEveryKey) {
  const std::string text =
      "# a comment\n"
      "\n"
      "  user = svc-banger   # inline comment\n"
      "state_dir=/srv/banger/state/\n"
      "cache_dir = /srv/banger/cache\n"
      "insecure_registries = Registry.Internal:5000, 10.0.0.7:5000 ,[::1]:5000\n"
      "mirrors = docker.io=mirror.internal:5000, ghcr.io = ghcr-mirror.internal\n"
      "parallel_downloads = 8\n"
      "audit_log = /srv/log/audit.log\n"
      "audit_syslog = none\n"
      "signature_policy = /srv/banger/policy.json\n"
      "max_layer_bytes = 2GiB\n"
      "max_total_bytes = 4096\n"
      "max_spool_bytes = 8G\n"
      "max_unpack_seconds = 120\n"
      "max_entries = 1000\n"
      "max_depth = 64\n"
      "max_path_bytes = 1K\n"
      "zstd_window_log_max = 31\n"
      "max_header_bytes = 512KiB\n";
  auto config = ParseConfig(text, "/x/config");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_TRUE(config->from_file);
  EXPECT_EQ(config->path, "/x/config");
  EXPECT_EQ(config->user, "svc-banger");
  EXPECT_EQ(config->state_dir, "/srv/banger/state");
  EXPECT_EQ(config->cache_dir, "/srv/banger/cache");
  EXPECT_EQ(config->insecure_registries, (std::vector<std::string>{"registry.internal:5000", "10.0.0.7:5000", "[::1]:5000"}))
      << "lowercase, as references spell their registry";
  EXPECT_EQ(config->mirrors, (std::vector<broker::RegistryMirror>{{"docker.io", "mirror.internal:5000"},
                                                                  {"ghcr.io", "ghcr-mirror.internal"}}));
  EXPECT_EQ(config->parallel_downloads, 8);
  EXPECT_EQ(config->audit_log, "/srv/log/audit.log");
  EXPECT_EQ(config->audit_syslog, "") << "none: no syslog";
  EXPECT_EQ(config->signature_policy, "/srv/banger/policy.json");
  const std::map<std::string, uint64_t> limits = {
      {"max_layer_bytes", 2ull << 30}, {"max_total_bytes", 4096},   {"max_spool_bytes", 8ull << 30},
      {"max_unpack_seconds", 120},
      {"max_entries", 1000},           {"max_depth", 64},           {"max_path_bytes", 1024},
      {"zstd_window_log_max", 31},     {"max_header_bytes", 512 << 10}};
  EXPECT_EQ(config->unpack_limits, limits) << "a bare number of a _bytes key is bytes, not MiB";
}

TEST(Config, EmptyTextGivesTheDefaults) {
  auto config = ParseConfig("# nothing\n\n   \n", "/x/config");
  ASSERT_TRUE(config);
  EXPECT_EQ(config->user, "banger");
  EXPECT_EQ(config->state_dir, "");
  EXPECT_EQ(config->cache_dir, "");
  EXPECT_TRUE(config->insecure_registries.empty());
  EXPECT_TRUE(config->mirrors.empty());
  EXPECT_EQ(config->parallel_downloads, 3);
  EXPECT_EQ(config->audit_log, "/var/log/banger/audit.log");
  EXPECT_EQ(config->audit_syslog, "/dev/log");
  EXPECT_EQ(config->signature_policy, "") << "kDefaultSignaturePolicy, if it exists";
  EXPECT_TRUE(config->unpack_limits.empty());
}

TEST(Config, EveryMistakeIsOneErrorNamingFileAndLine) {
  std::string too_many_ranges = "egress_allow = 10.0.0.0/24";
  for (int i = 1; i <= 64; ++i) too_many_ranges += ", 10.0." + std::to_string(i) + ".0/24";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"frob = 1", "unknown config key 'frob'"},
      {"just some words", "malformed config line"},
      {"= 3", "malformed config line"},
      {"User = x", "malformed config line"},
      {"parallel_downloads = 17", "parallel_downloads wants a whole number from 1 to 16, not '17'"},
      {"parallel_downloads = 0", "parallel_downloads"},
      {"parallel_downloads = two", "parallel_downloads"},
      {"min_download_rate = 0", "min_download_rate wants bytes per second from 1 to 1073741824, not '0'"},
      {"download_grace_seconds = -1", "download_grace_seconds wants a whole number from 0 to 604800"},
      {"user = Root", "user wants a system user name"},
      {"cache_dir = /tmp//x", "cache_dir wants an absolute path"},
      {"mirrors = =m", "mirrors wants registry=mirror-host pairs"},
      {"user = Bad Name", "user wants a system user name"},
      {"user =", "user wants a system user name"},
      {"state_dir = relative/path", "state_dir wants an absolute path"},
      {"cache_dir = /var/../etc", "cache_dir wants an absolute path"},
      {"mirrors = docker.io", "mirrors wants registry=mirror-host pairs, not 'docker.io'"},
      {"mirrors = docker.io=https://m/x", "mirrors wants registry=mirror-host pairs"},
      {"insecure_registries = http://x", "insecure_registries wants a registry host[:port], not 'http://x' (without the scheme: x)"},
      {"insecure_registries = 10.0.0.0/8", "insecure_registries wants a registry host[:port], not '10.0.0.0/8' (a registry is host[:port], not a path or a range)"},
      {"egress_allow = 10.0.0.1/8", "egress_allow wants addresses or CIDR ranges: '10.0.0.1/8' has host bits set"},
      {"egress_allow = intranet", "egress_allow wants addresses or CIDR ranges"},
      {"audit_log = var/log/audit.log", "audit_log wants an absolute path, not 'var/log/audit.log'"},
      {"signature_policy = policy.json", "signature_policy wants an absolute path, not 'policy.json'"},
      {"audit_syslog = syslog", "audit_syslog wants the path of a syslog socket or none, not 'syslog'"},
      {too_many_ranges, "egress_allow lists more than 64 ranges; use wider ones"},
      {"max_unpack_seconds = 1.5", "max_unpack_seconds wants a whole number from 1 to 604800"},
      {"max_unpack_seconds = 604801", "max_unpack_seconds wants a whole number from 1 to 604800"},
      {"max_unpack_seconds = 10K", "max_unpack_seconds"},
      {"max_ratio = 1000", "unknown config key 'max_ratio'"},
      {"max_layer_bytes = 0", "max_layer_bytes wants a whole number at least 1 (bytes, or with a unit"},
      {"max_layer_bytes = 3X", "max_layer_bytes"},
      {"zstd_window_log_max = 9", "zstd_window_log_max wants a whole number from 10 to 31, not '9'"},
  };
  for (const auto& [line, message] : cases) {
    auto config = ParseConfig("# header\nmax_depth = 7\n" + line + "\n", "/etc/banger/config");
    ASSERT_FALSE(config) << line;
    const std::string& text = config.error().message;
    EXPECT_NE(text.find(message), std::string::npos) << line << " -> " << text;
    EXPECT_TRUE(text.ends_with(" (/etc/banger/config:3)")) << line << " -> " << text;
    EXPECT_EQ(text.find('\n'), std::string::npos) << text;
  }
  auto twice = ParseConfig("user = a\n\nuser = b\n", "/c");
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().message, "config key 'user' set twice (/c:3)");
}

TEST(Config, KnowsEveryUnpackBoundAPullTakes) {
  const auto& keys = broker::ConfigKeys();
  for (const std::string& name : ipc::UnpackLimits::Names()) {
    EXPECT_NE(std::find(keys.begin(), keys.end(), name), keys.end()) << name;
  }
}

TEST(Config, TheTemplateParsesAndDocumentsEveryKeyWithTheRealDefaults) {
  const std::string text = broker::ConfigTemplate("svc", "/s", "/c");
  auto config = ParseConfig(text, "/t");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->user, "svc");
  EXPECT_EQ(config->state_dir, "/s");
  EXPECT_EQ(config->cache_dir, "/c");
  // Uncomment every documented key: the defaults it shows are valid and what banger uses.
  std::istringstream lines(text);
  std::string uncommented;
  std::set<std::string> documented;
  for (std::string line; std::getline(lines, line);) {
    for (const std::string& key : broker::ConfigKeys()) {
      if (line.rfind("# " + key + " = ", 0) == 0 || line.rfind(key + " = ", 0) == 0) {
        documented.insert(key);
        if (line[0] == '#') line = line.substr(2);
      }
    }
    uncommented += line + "\n";
  }
  EXPECT_EQ(documented.size(), broker::ConfigKeys().size());
  auto all = ParseConfig(uncommented, "/t");
  ASSERT_TRUE(all) << all.error().message;
  const std::map<std::string, uint64_t> defaults = {
      {"max_layer_bytes", 64ull << 30}, {"max_total_bytes", 256ull << 30}, {"max_spool_bytes", 256ull << 30},
      {"max_unpack_seconds", 3600},
      {"max_entries", 10'000'000},      {"max_depth", 4096},               {"max_path_bytes", 4096},
      {"zstd_window_log_max", 27},      {"max_header_bytes", 1 << 20}};
  EXPECT_EQ(all->unpack_limits, defaults);
  EXPECT_EQ(all->parallel_downloads, 3);
}

// bangerd's keys and the tenants' limits: every tenant's, then a group's, then a user's
// own; each malformed value is one error naming the line.
TEST(Config, DaemonKeysAndTenantLimits) {
  auto config = ParseConfig(
      "socket = /run/b/b.sock\nsocket_group = users\nallow_users = alice, bob.smith\nallow_groups = devs\n"
      "admin_group = wheel\nmax_requests = 8\ntenant_max_requests = 2\n"
      "tenant_registries = docker.io/library/*, ghcr.io/acme/*\ntenant_max_images = 5\ntenant_max_bytes = 10GiB\n"
      "tenant.@root.max_images = 7\ntenant.bob.smith.registries = quay.io/*/*\ntenant.bob.smith.requests_per_minute = 3\n"
      "tenant.bob.smith.max_requests = 9\n",
      "/t");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->socket, "/run/b/b.sock");
  EXPECT_EQ(config->allow_users, (std::vector<std::string>{"alice", "bob.smith"}));
  EXPECT_EQ(config->max_requests, 8u);
  EXPECT_EQ(config->tenant_max_requests, 2u);
  const broker::TenantLimits alice = broker::LimitsFor(*config, "alice", {1000});
  EXPECT_EQ(*alice.registries, (std::vector<std::string>{"docker.io/library/*", "ghcr.io/acme/*"}));
  EXPECT_EQ(*alice.max_images, 5u);
  EXPECT_EQ(*alice.max_bytes, 10ull << 30);
  EXPECT_EQ(*alice.requests_per_minute, 120u) << "the default";
  EXPECT_EQ(*broker::LimitsFor(*config, "alice", {1000, 0}).max_images, 7u) << "a member of group root";
  const broker::TenantLimits bob = broker::LimitsFor(*config, "bob.smith", {0});
  EXPECT_EQ(*bob.registries, (std::vector<std::string>{"quay.io/*/*"}));
  EXPECT_EQ(*bob.requests_per_minute, 3u);
  EXPECT_EQ(*bob.max_images, 7u);
  EXPECT_EQ(*bob.max_requests, 9u);
  EXPECT_FALSE(alice.max_requests) << "tenant_max_requests then";
  EXPECT_TRUE(broker::RegistryAllowed(*alice.registries, "docker.io/library/alpine"));
  EXPECT_FALSE(broker::RegistryAllowed(*alice.registries, "docker.io/evil/alpine"));
  EXPECT_FALSE(broker::RegistryAllowed(*alice.registries, "docker.io/library/a/b")) << "'*' stays in one segment";
  EXPECT_FALSE(broker::RegistryAllowed(*alice.registries, "ghcr.io/acme")) << "the namespace alone is not a repository";
  for (const auto& [line, says] : std::vector<std::pair<std::string, std::string>>{
           {"socket = run/b.sock", "socket wants an absolute path"},
           {"allow_users = alice, -x", "allow_users wants comma-separated user or group names, not '-x'"},
           {"max_requests = 0", "max_requests wants a whole number from 1 to 1024"},
           {"tenant_registries = docker.io", "registries wants REGISTRY/REPOSITORY glob patterns"},
           {"tenant.al ice.max_images = 1", "malformed config line"},
           {"tenant.alice.colour = red", "unknown tenant limit 'colour'"},
           {"tenant..max_images = 1", "tenant keys are tenant.USER.FIELD"},
           {"tenant_max_bytes = lots", "invalid size 'lots'"},
           {"tenant.bob.max_requests = 0", "max_requests wants a whole number from 1 to 1024"}}) {
    auto bad = ParseConfig(line + "\n", "/t");
    ASSERT_FALSE(bad) << line;
    EXPECT_NE(bad.error().message.find(says), std::string::npos) << line << ": " << bad.error().message;
    EXPECT_NE(bad.error().message.find("(/t:1)"), std::string::npos) << bad.error().message;
  }
}

// BANGER_CONFIG naming a file that is not there is an error (#18: it used to mean the
// defaults, silently); only the default path may be absent.
TEST_F(ConfigEnvironment, BangerConfigNamesTheFileAndAMissingOneIsAnError) {
  ScratchDir dir("banger-config");
  ::unsetenv("BANGER_CONFIG");
  EXPECT_EQ(broker::ConfigPath(broker::CaptureEnvironment()), "/etc/banger/config");
  auto defaults = broker::LoadConfigFrom(dir.path() + "/nope");
  ASSERT_TRUE(defaults) << defaults.error().message;
  EXPECT_FALSE(defaults->from_file);
  EXPECT_EQ(defaults->user, "banger");
  ::setenv("BANGER_CONFIG", (dir.path() + "/nope").c_str(), 1);
  auto missing = broker::LoadContext();
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "BANGER_CONFIG names " + dir.path() +
                                         "/nope, which does not exist (unset it to use /etc/banger/config)");

  WriteFile(dir.path() + "/config", "user = nobody\nparallel_downloads = 5\n");
  ::setenv("BANGER_CONFIG", (dir.path() + "/config").c_str(), 1);
  auto loaded = broker::LoadContext();
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_TRUE(loaded->config.from_file);
  EXPECT_EQ(loaded->config.user, "nobody");
  EXPECT_EQ(loaded->config.parallel_downloads, 5);

  auto not_a_file = broker::LoadConfigFrom(dir.path());
  ASSERT_FALSE(not_a_file);
  EXPECT_EQ(not_a_file.error().message, "the config is not a regular file (" + dir.path() + ")");
}

TEST_F(ConfigEnvironment, AsRootAConfigOthersMayWriteIsRefused) {
  BANGER_REQUIRE_ROOT();
  ScratchDir dir("banger-config");
  WriteFile(dir.path() + "/config", "user = banger\n", 0664);
  auto loaded = broker::LoadConfigFrom(dir.path() + "/config");
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().message.find("others than root may write it"), std::string::npos) << loaded.error().message;
  EXPECT_TRUE(loaded.error().message.ends_with("(" + dir.path() + "/config)"));
  ::chmod((dir.path() + "/config").c_str(), 0644);
  EXPECT_TRUE(broker::LoadConfigFrom(dir.path() + "/config"));
}

TEST(UserDirs, TheEnvironmentThenTheConfigThenTheDefault) {
  broker::HostEnvironment root;
  root.root = true;
  EXPECT_EQ(broker::StateRoot(root, Config{}), "/var/lib/banger");
  EXPECT_EQ(broker::CacheRoot(root, Config{}), "/var/cache/banger");
  auto config = ParseConfig("state_dir = /srv/state\ncache_dir = /srv/cache\n", "/c");
  ASSERT_TRUE(config);
  EXPECT_EQ(broker::StateRoot(root, *config), "/srv/state");
  EXPECT_EQ(broker::CacheRoot(root, *config), "/srv/cache");
  broker::HostEnvironment overridden = root;
  overridden.state_dir = "/env/state";
  overridden.cache_dir = "/env/cache";
  EXPECT_EQ(broker::StateRoot(overridden, *config), "/env/state");
  EXPECT_EQ(broker::CacheRoot(overridden, *config), "/env/cache");
  overridden.state_dir = "relative/state";  // only an absolute override counts
  EXPECT_EQ(broker::StateRoot(overridden, *config), "/srv/state");
}

TEST(UserDirs, OthersThanRootKeepTheirXdgDirsWhateverTheSystemConfigSays) {
  auto config = ParseConfig("state_dir = /srv/state\ncache_dir = /srv/cache\n", "/c");
  ASSERT_TRUE(config);
  broker::HostEnvironment user;
  user.home = "/home/u";
  EXPECT_EQ(broker::StateRoot(user, *config), "/home/u/.local/state/banger");
  EXPECT_EQ(broker::CacheRoot(user, *config), "/home/u/.cache/banger");
  user.xdg_state_home = "/x/state";
  user.xdg_cache_home = "/x/cache";
  EXPECT_EQ(broker::StateRoot(user, *config), "/x/state/banger");
  EXPECT_EQ(broker::CacheRoot(user, *config), "/x/cache/banger");
}

TEST_F(ConfigEnvironment, TheCommandLineReadsTheEnvironmentOnce) {
  ::setenv("BANGER_STATE_DIR", "/env/state", 1);
  ::setenv("BANGER_CACHE_DIR", "/env/cache", 1);
  ::setenv("https_proxy", "http://proxy.example:3128", 1);
  ::setenv("NO_PROXY", "localhost", 1);
  const broker::HostEnvironment env = broker::CaptureEnvironment();
  ::unsetenv("https_proxy");
  ::unsetenv("NO_PROXY");
  EXPECT_EQ(env.state_dir, "/env/state");
  EXPECT_EQ(env.cache_dir, "/env/cache");
  EXPECT_EQ(env.root, ::geteuid() == 0);
  EXPECT_EQ(env.proxy_settings, (std::vector<std::string>{"https_proxy=http://proxy.example:3128", "NO_PROXY=localhost"}));
  // The fetcher, and no other helper, gets them.
  broker::CliContext context;
  context.env = env;
  auto helpers = context.Helpers();
  ASSERT_TRUE(helpers) << helpers.error().message;
  EXPECT_EQ(helpers->fetcher_environment, env.proxy_settings);
}

TEST(Config, HelperUidsIsARangeReservedForBanger) {
  auto config = ParseConfig("helper_uids = 300000-300099\n", "/c");
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_TRUE(config->helper_uids);
  EXPECT_EQ(*config->helper_uids, (broker::HelperUidRange{300000, 300099}));
  EXPECT_FALSE(ParseConfig("", "/c")->helper_uids) << "unset by default: every pull runs as `user`";
  for (const char* bad : {"0-10", "10-5", "65530-65540", "1-", "-5", "300000", "1-70000", "x-y", "1 - 2",
                          "4294967290-4294967295", "+1-2"}) {
    auto refused = ParseConfig(std::string("helper_uids = ") + bad + "\n", "/c");
    ASSERT_FALSE(refused) << bad;
    EXPECT_NE(refused.error().message.find("helper_uids wants a range FIRST-LAST"), std::string::npos)
        << bad << " -> " << refused.error().message;
  }
}

// Two claims never hold one uid; a released uid is claimed again; a full range is named.
TEST(HelperUids, EachClaimHoldsAUidNoOtherClaimHolds) {
  char dir_template[] = "/tmp/banger-uids-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::string locks = std::string(dir_template) + "/helper-uids";
  const broker::HelperUidRange range{400000, 400001};
  auto first = broker::ClaimHelperUid(locks, range);
  auto second = broker::ClaimHelperUid(locks, range);
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->uid(), 400000u);
  EXPECT_EQ(second->uid(), 400001u);
  auto none = broker::ClaimHelperUid(locks, range);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().message,
            "every uid in helper_uids (400000-400001) is held by another pull or names a user or group; widen the "
            "range in the config");
  { auto released = std::move(*first); }
  first = broker::ClaimHelperUid(locks, range);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->uid(), 400000u);
  struct stat st {};
  ASSERT_EQ(::stat(locks.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  // uid 1 and gid 1 are Debian's daemon: a range over them yields nothing.
  ASSERT_NE(::getpwuid(1), nullptr);
  EXPECT_FALSE(broker::ClaimHelperUid(locks, broker::HelperUidRange{1, 1})) << "a user's uid was handed out";
  std::filesystem::remove_all(dir_template);
}

TEST(Config, TheConfiguredUserIsTriedFirst) {
  auto config = ParseConfig("user = nobody\n", "/c");
  ASSERT_TRUE(config);
  EXPECT_EQ(security::ResolveSandboxIdentity(config->user).name, "nobody");
  EXPECT_EQ(security::ResolveSandboxIdentity(config->user).uid, 65534u);
  config = ParseConfig("user = no-such-user-here\n", "/c");
  ASSERT_TRUE(config);
  const std::string fallback = security::ResolveSandboxIdentity(config->user).name;
  EXPECT_TRUE(fallback == "banger" || fallback == "nobody") << fallback;
  EXPECT_NE(security::ResolveSandboxIdentity("root").uid, 0u) << "a uid-0 user is never chosen";
}

TEST(ConfigCli, ABrokenConfigStopsBangerWithOneLineButNotHelpOrVersion) {
  ScratchDir dir("banger-config");
  WriteFile(dir.path() + "/config", "user = banger\nfrob = 1\n");
  const std::string env = "BANGER_CONFIG=" + dir.path() + "/config ";
  CommandResult status = RunCommand(env + kBin + "/banger system status");
  EXPECT_EQ(status.exit_status, 1);
  EXPECT_EQ(status.output, "banger: error: unknown config key 'frob' (" + dir.path() + "/config:2)\n");
  EXPECT_EQ(RunCommand(env + kBin + "/banger image list").exit_status, 1);
  for (const char* args : {"--help", "--version", "system status --help", "image pull --help"}) {
    CommandResult r = RunCommand(env + kBin + "/banger " + args);
    EXPECT_EQ(r.exit_status, 0) << args << ": " << r.output;
  }
}

TEST(ConfigCli, RootsBangerKeepsImagesInTheConfiguredStateDir) {
  BANGER_REQUIRE_ROOT();
  ScratchDir dir("banger-config");
  WriteFile(dir.path() + "/config", "user = bangernosuchuser\nstate_dir = " + dir.path() + "/state\ncache_dir = " +
                                        dir.path() + "/cache\n");
  const std::string env = "BANGER_CONFIG=" + dir.path() + "/config ";
  CommandResult list = RunCommand(env + kBin + "/banger image list --json");
  EXPECT_EQ(list.exit_status, 0) << list.output;
  CommandResult status = RunCommand(env + kBin + "/banger system status");
  EXPECT_NE(status.output.find("config: " + dir.path() + "/config\n"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("images: " + dir.path() + "/state/images  cache: " + dir.path() + "/cache/oci"),
            std::string::npos)
      << status.output;
  EXPECT_NE(status.output.find("helper user: bangernosuchuser (the config's user) does not exist; falling back to "),
            std::string::npos)
      << status.output;
  EXPECT_EQ(status.exit_status, 0) << status.output;
  CommandResult env_wins =
      RunCommand(env + "BANGER_STATE_DIR=" + dir.path() + "/env-state " + kBin + "/banger system status");
  EXPECT_NE(env_wins.output.find("images: " + dir.path() + "/env-state/images"), std::string::npos)
      << "BANGER_STATE_DIR wins over the config: " << env_wins.output;
}

}  // namespace
}  // namespace banger::testing
