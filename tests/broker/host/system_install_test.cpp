// `banger system install / status / uninstall` for real, as root, into a temporary
// prefix with a test-specific system user: what install makes, that a second run changes
// nothing, that the installed banger pulls with its helpers running as that user, and
// that uninstall leaves nothing behind but the kept images.
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "broker/host/system_install.h"
#include "tests/support/registry_fixture.h"
#include "tests/support/test_support.h"

namespace banger::testing {
namespace {

using nlohmann::json;



std::string ModeOwner(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return "missing";
  char text[64];
  std::snprintf(text, sizeof text, "%04o %u:%u", st.st_mode & 07777, st.st_uid, st.st_gid);
  return text;
}

std::string UidField(pid_t pid) {
  const std::string uids = ProcStatusField(pid, "Uid");
  return uids.substr(0, uids.find_first_of(" \t"));
}

void DeleteUser(const std::string& name) {
  if (::getpwnam(name.c_str()) != nullptr) RunCommand("userdel " + name);
  if (::getgrnam(name.c_str()) != nullptr) RunCommand("groupdel " + name);
}

// A test user that exists at most for the test's life, whatever happens in it.
class SystemInstall : public ::testing::Test {
 protected:
  void SetUp() override {
    BANGER_REQUIRE_ROOT();
    DeleteUser(user_);
    ASSERT_EQ(::mkdir(prefix_.c_str(), 0755), 0);
  }
  void TearDown() override { DeleteUser(user_); }

  std::string Flags() const {
    return " --prefix " + prefix_ + " --user " + user_ + " --config-dir " + config_dir_ + " --state-dir " + state_ +
           " --cache-dir " + cache_ + " --init-root " + init_root_;
  }
  CommandResult Build(const std::string& args) { return RunCommand(kBin + "/banger " + args); }
  // The installed banger with the installed config.
  std::string Installed(const std::string& args) const {
    return "env BANGER_CONFIG=" + config_dir_ + "/config TMPDIR=" + work_.path() + " DOCKER_CONFIG=" + work_.path() +
           " " + prefix_ + "/bin/banger " + args;
  }
  std::string Uid() const {
    const passwd* pw = ::getpwnam(user_.c_str());
    return pw == nullptr ? "none" : std::to_string(pw->pw_uid);
  }
  json Manifest() const { return json::parse(ReadFile(config_dir_ + "/installed.json"), nullptr, false); }

  ScratchDir root_{"banger-sysinstall"}, work_{"banger-syswork"};
  const std::string user_ = "bangertest" + std::to_string(::getpid() % 10000);
  const std::string prefix_ = root_.path() + "/prefix";
  const std::string config_dir_ = root_.path() + "/etc/banger";
  const std::string state_ = root_.path() + "/state";
  const std::string cache_ = root_.path() + "/cache";
  const std::string init_root_ = root_.path() + "/init";
  const std::string units_ = init_root_ + "/etc/systemd/system";
  const std::string openrc_ = init_root_ + "/etc/init.d";
  const std::vector<std::string> files_ = {prefix_ + "/bin/banger", prefix_ + "/bin/bangerd",
                                           prefix_ + "/libexec/banger/banger-fetcher",
                                           prefix_ + "/libexec/banger/banger-unpacker",
                                           prefix_ + "/libexec/banger/banger-imager"};
};

TEST_F(SystemInstall, InstallsPullsAsItsUserAndUninstallsLeavingOnlyTheImages) {
  CommandResult install = Build("system install" + Flags());
  ASSERT_EQ(install.exit_status, 0) << install.output;
  EXPECT_NE(install.output.find("created the system user " + user_), std::string::npos) << install.output;
  for (const std::string& file : files_) EXPECT_EQ(ModeOwner(file), "0755 0:0") << file;
  EXPECT_FALSE(Exists(prefix_ + "/bin/banger-unpacker")) << "helpers belong in libexec";
  // The bash completion and banger(1), written from the command table (#18).
  const std::string completion = prefix_ + "/share/bash-completion/completions/banger";
  const std::string man = prefix_ + "/share/man/man1/banger.1";
  EXPECT_EQ(ModeOwner(completion), "0644 0:0");
  EXPECT_EQ(ReadFile(completion), RunCommand(kBin + "/banger completion bash").output);
  EXPECT_EQ(ModeOwner(man), "0644 0:0");
  EXPECT_EQ(ReadFile(man).rfind(".TH BANGER 1 ", 0), 0u);
  EXPECT_EQ(ModeOwner(state_), "0700 0:0");
  EXPECT_EQ(ModeOwner(state_ + "/images"), "0700 0:0");
  EXPECT_EQ(ModeOwner(cache_), "0700 0:0");
  EXPECT_EQ(ModeOwner(cache_ + "/oci"), "0700 0:0");
  EXPECT_EQ(ModeOwner(config_dir_ + "/config"), "0644 0:0");
  const std::string config = ReadFile(config_dir_ + "/config");
  EXPECT_NE(config.find("\nuser = " + user_ + "\n"), std::string::npos) << config;
  EXPECT_NE(config.find("\nstate_dir = " + state_ + "\n"), std::string::npos) << config;
  EXPECT_NE(config.find("\ncache_dir = " + cache_ + "\n"), std::string::npos) << config;
  const passwd* pw = ::getpwnam(user_.c_str());
  ASSERT_NE(pw, nullptr);
  EXPECT_STREQ(pw->pw_shell, "/usr/sbin/nologin");
  EXPECT_STREQ(pw->pw_dir, "/nonexistent");
  EXPECT_NE(pw->pw_uid, 0u);
  EXPECT_NE(::getgrnam(user_.c_str()), nullptr);
  const json manifest = Manifest();
  ASSERT_TRUE(manifest.is_object());
  json files = files_;
  files.push_back(completion);
  files.push_back(man);
  EXPECT_EQ(manifest["files"], files);
  EXPECT_EQ(manifest["user"]["name"], user_);
  EXPECT_TRUE(manifest["user"]["created"].get<bool>());
  EXPECT_TRUE(manifest["config_created"].get<bool>());
  EXPECT_EQ(manifest["service_files"],
            json({units_ + "/banger.socket", units_ + "/banger.service", openrc_ + "/banger"}));
  EXPECT_EQ(ModeOwner(units_ + "/banger.socket"), "0644 0:0");
  EXPECT_EQ(ModeOwner(openrc_ + "/banger"), "0755 0:0");

  // A second run changes nothing and says so (the same inodes: nothing was rewritten).
  struct stat before;
  ASSERT_EQ(::stat(files_[0].c_str(), &before), 0);
  const std::string manifest_text = ReadFile(config_dir_ + "/installed.json");
  CommandResult again = Build("system install --config-dir " + config_dir_);
  EXPECT_EQ(again.exit_status, 0) << again.output;
  EXPECT_NE(again.output.find("nothing to do: banger is already installed in " + prefix_), std::string::npos)
      << again.output;
  EXPECT_EQ(again.output.find("installed /"), std::string::npos) << again.output;
  struct stat after;
  ASSERT_EQ(::stat(files_[0].c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);
  EXPECT_EQ(ReadFile(config_dir_ + "/installed.json"), manifest_text);
  CommandResult conflict = Build("system install --config-dir " + config_dir_ + " --prefix " + work_.path());
  EXPECT_EQ(conflict.exit_status, 1);
  EXPECT_NE(conflict.output.find("banger: error: banger is already installed with --prefix " + prefix_),
            std::string::npos)
      << conflict.output;

  // Status, from the build tree and from the installed banger, with the installed config.
  CommandResult status = RunCommand("BANGER_CONFIG=" + config_dir_ + "/config " + kBin + "/banger system status");
  EXPECT_EQ(status.exit_status, 0) << status.output;
  EXPECT_NE(status.output.find("config: " + config_dir_ + "/config\n"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("installed: yes, in " + prefix_ + " "), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("kernel: seccomp yes; userns "), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("helpers run as " + user_ + " (uid " + Uid() + ")"), std::string::npos) << status.output;
  CommandResult installed_status = RunCommand(Installed("system status"));
  EXPECT_EQ(installed_status.exit_status, 0) << installed_status.output;
  EXPECT_NE(installed_status.output.find("this banger: " + prefix_ + "/bin/banger\n"), std::string::npos);
  EXPECT_NE(installed_status.output.find("sandbox: ok"), std::string::npos) << installed_status.output;
  size_t confined = 0;
  const std::string as_user = "confined  uid " + Uid() + " ";
  for (size_t at = installed_status.output.find(as_user); at != std::string::npos;
       at = installed_status.output.find(as_user, at + 1)) {
    ++confined;
  }
  EXPECT_EQ(confined, 3u) << installed_status.output;
  EXPECT_EQ(RunCommand("id -u " + user_).output, Uid() + "\n");

  // A real pull by the installed banger: its unpacker and imager run as the user, and
  // the image lands in the configured state dir.
  auto registry = TestRegistry::Start();
  ASSERT_TRUE(registry);
  ASSERT_FALSE(registry->Push("demo/app", "v1", {"--layers", "2"}).is_null());
  const std::string stall = work_.path() + "/stall";
  BackgroundCommand pull("env BANGER_TEST_STALL=" + stall + " " + Installed("image pull -q " + registry->host() +
                                                                            "/demo/app:v1"),
                         work_.path() + "/pull.out");
  ASSERT_TRUE(WaitFor([&] { return Exists(stall); }, 30000)) << pull.Output();
  const std::map<std::string, pid_t> helpers = StalledHelpers(stall);
  EXPECT_EQ(helpers.size(), 2u);
  for (const auto& [name, pid] : helpers) EXPECT_EQ(UidField(pid), Uid()) << name;
  ::unlink(stall.c_str());
  ASSERT_EQ(pull.Wait(60000), 0) << pull.Output();
  CommandResult list = RunCommand(Installed("image list --json"));
  ASSERT_EQ(list.exit_status, 0) << list.output;
  const json images = json::parse(list.output, nullptr, false);
  ASSERT_TRUE(images.is_array()) << list.output;
  EXPECT_EQ(images.size(), 1u);
  const std::string kept = RunCommand("ls " + state_ + "/images/*/rootfs.ext4").output;
  EXPECT_NE(kept, "") << "the image is in the configured state dir";
  EXPECT_NE(RunCommand("ls -A " + cache_ + "/oci/blobs/sha256").output, "") << "blobs in the configured cache dir";

  // Uninstall: nothing left but the image.
  CommandResult uninstall = Build("system uninstall --config-dir " + config_dir_);
  EXPECT_EQ(uninstall.exit_status, 0) << uninstall.output;
  EXPECT_NE(uninstall.output.find("kept 1 image(s) in " + state_ + "/images"), std::string::npos) << uninstall.output;
  EXPECT_EQ(RunCommand("find " + prefix_ + " -mindepth 1").output, "") << "the prefix is empty again";
  EXPECT_FALSE(Exists(config_dir_));
  EXPECT_FALSE(Exists(root_.path() + "/etc")) << "install created it, uninstall removed it";
  EXPECT_FALSE(Exists(cache_));
  EXPECT_EQ(::getpwnam(user_.c_str()), nullptr) << "the user is gone";
  EXPECT_EQ(::getgrnam(user_.c_str()), nullptr) << "its group too";
  EXPECT_EQ(RunCommand("ls " + state_ + "/images/*/rootfs.ext4").output, kept) << "the image is kept";
  EXPECT_FALSE(Exists(init_root_)) << "the service files and the directories made for them are gone";
  EXPECT_EQ(RunCommand("ls -A " + root_.path()).output, "prefix\nstate\n");

  CommandResult twice = Build("system uninstall --config-dir " + config_dir_);
  EXPECT_EQ(twice.exit_status, 1);
  EXPECT_EQ(twice.output, "banger: error: banger is not installed here: no install manifest (" + config_dir_ +
                              "/installed.json)\n");
}

// bangerd's service files as install writes them: systemd accepts the socket and service
// units (socket activation on a SOCK_SEQPACKET socket, ExecStart the installed bangerd),
// its offline security review rates the service's hardening at most MEDIUM exposure,
// and shellcheck passes the OpenRC script.
TEST_F(SystemInstall, WritesBangerdsUnitsAndOpenRcScriptAsTheirToolsAccept) {
  CommandResult install = Build("system install" + Flags());
  ASSERT_EQ(install.exit_status, 0) << install.output;
  EXPECT_NE(install.output.find("wrote " + units_ + "/banger.socket"), std::string::npos) << install.output;
  const std::string socket_unit = ReadFile(units_ + "/banger.socket");
  EXPECT_NE(socket_unit.find("\nListenSequentialPacket=/run/banger/banger.sock\n"), std::string::npos) << socket_unit;
  EXPECT_NE(socket_unit.find("\nSocketMode=0660\n"), std::string::npos) << socket_unit;
  const std::string service = ReadFile(units_ + "/banger.service");
  EXPECT_NE(service.find("\nExecStart=" + prefix_ + "/bin/bangerd --config " + config_dir_ + "/config --foreground\n"),
            std::string::npos)
      << service;
  EXPECT_NE(service.find("\nReadWritePaths=-" + state_ + " -" + cache_ + " -/var/log/banger\n"), std::string::npos)
      << service;

  CommandResult verify = RunCommand("cd " + units_ + " && systemd-analyze verify ./banger.socket ./banger.service 2>&1");
  EXPECT_EQ(verify.exit_status, 0) << verify.output;
  EXPECT_EQ(verify.output, "") << "no warning";
  CommandResult security = RunCommand("cd " + units_ + " && systemd-analyze security --offline=true ./banger.service 2>&1");
  EXPECT_EQ(security.exit_status, 0) << security.output;
  const size_t level = security.output.find("Overall exposure level for banger.service: ");
  ASSERT_NE(level, std::string::npos) << security.output;
  const std::string verdict = security.output.substr(level, security.output.find('\n', level) - level);
  std::cout << "systemd-analyze security: " << verdict << "\n";
  EXPECT_TRUE(verdict.find(" MEDIUM") != std::string::npos || verdict.find(" OK") != std::string::npos) << verdict;
  CommandResult shellcheck = RunCommand("shellcheck " + openrc_ + "/banger 2>&1");
  EXPECT_EQ(shellcheck.exit_status, 0) << shellcheck.output;
  const std::string script = ReadFile(openrc_ + "/banger");
  EXPECT_EQ(script.rfind("#!/sbin/openrc-run\n", 0), 0u) << script;
  EXPECT_NE(script.find("command=\"" + prefix_ + "/bin/bangerd\""), std::string::npos) << script;

  CommandResult uninstall = Build("system uninstall --config-dir " + config_dir_);
  EXPECT_EQ(uninstall.exit_status, 0) << uninstall.output;
  EXPECT_FALSE(Exists(units_ + "/banger.socket"));
  EXPECT_FALSE(Exists(openrc_ + "/banger"));
}

// Where systemd runs the host, install enables and starts banger.socket and uninstall
// stops and disables both units; a systemctl that fails fails the install, naming it.
// (This machine's PID 1 is not systemd: a stand-in systemctl records what it is asked.)
TEST_F(SystemInstall, EnablesTheSocketWhereSystemdRunsAndDisablesItAtUninstall) {
  const std::string asked = work_.path() + "/systemctl.log";
  const std::string systemctl = work_.path() + "/systemctl";
  std::ofstream(systemctl) << "#!/bin/sh\necho \"$@\" >> " << asked << "\n";
  ASSERT_EQ(::chmod(systemctl.c_str(), 0755), 0);
  broker::InstallRequest request{.config_dir = config_dir_, .prefix = prefix_, .user = user_, .state_dir = state_,
                                 .cache_dir = cache_, .init_root = init_root_, .systemd_running = true,
                                 .systemctl = systemctl};
  broker::SystemReport report;
  auto installed = broker::InstallSystem(request, kBin + "/banger", report);
  ASSERT_TRUE(installed) << installed.error().message;
  EXPECT_EQ(ReadFile(asked), "daemon-reload\nenable --now banger.socket\n");
  EXPECT_TRUE(Manifest()["service_enabled"].get<bool>());
  bool said = false;
  for (const std::string& line : report.lines) said |= line == "enabled and started banger.socket";
  EXPECT_TRUE(said);
  broker::SystemReport removal;
  auto uninstalled = broker::UninstallSystem(config_dir_, false, removal, systemctl);
  ASSERT_TRUE(uninstalled) << uninstalled.error().message;
  EXPECT_TRUE(uninstalled->empty());
  EXPECT_EQ(ReadFile(asked), "daemon-reload\nenable --now banger.socket\ndisable --now banger.socket banger.service\n");
  EXPECT_FALSE(Exists(units_ + "/banger.socket"));

  std::ofstream(systemctl, std::ios::trunc) << "#!/bin/sh\necho 'Failed to connect to bus' >&2\nexit 1\n";
  broker::SystemReport failing;
  auto failed = broker::InstallSystem(request, kBin + "/banger", failing);
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().message.find(systemctl + " daemon-reload failed: Failed to connect to bus"), std::string::npos)
      << failed.error().message;
  broker::SystemReport cleanup;
  (void)broker::UninstallSystem(config_dir_, false, cleanup, systemctl);
}

TEST_F(SystemInstall, KeepsWhatExistedBeforeAndPurgeRemovesTheData) {
  // The user and the config exist before install; install takes the user from the config.
  ASSERT_EQ(RunCommand("useradd --system --no-create-home --shell /usr/sbin/nologin --user-group " + user_).exit_status,
            0);
  ASSERT_EQ(RunCommand("mkdir -p " + config_dir_).exit_status, 0);
  const std::string own_config = "# mine\nuser = " + user_ + "\nstate_dir = " + state_ + "\ncache_dir = " + cache_ + "\n";
  std::ofstream(config_dir_ + "/config") << own_config;
  ::chmod((config_dir_ + "/config").c_str(), 0644);
  CommandResult install = Build("system install --prefix " + prefix_ + " --config-dir " + config_dir_);
  ASSERT_EQ(install.exit_status, 0) << install.output;
  EXPECT_NE(install.output.find("using the existing user " + user_), std::string::npos) << install.output;
  EXPECT_NE(install.output.find("kept the existing " + config_dir_ + "/config (not overwritten)"), std::string::npos)
      << install.output;
  EXPECT_EQ(ReadFile(config_dir_ + "/config"), own_config);
  EXPECT_EQ(ModeOwner(state_), "0700 0:0") << "state dir from the kept config";
  EXPECT_FALSE(Manifest()["user"]["created"].get<bool>());
  EXPECT_FALSE(Manifest()["config_created"].get<bool>());
  // A state dir with the wrong mode is put right, and says so.
  ::chmod(state_.c_str(), 0755);
  CommandResult fix = Build("system install --config-dir " + config_dir_);
  EXPECT_NE(fix.output.find("set " + state_ + " to root, 0700"), std::string::npos) << fix.output;
  EXPECT_EQ(ModeOwner(state_), "0700 0:0");
  ASSERT_EQ(::mkdir((state_ + "/images/some-image").c_str(), 0755), 0);

  CommandResult uninstall = Build("system uninstall --purge --config-dir " + config_dir_);
  EXPECT_EQ(uninstall.exit_status, 0) << uninstall.output;
  EXPECT_NE(uninstall.output.find("kept the user " + user_), std::string::npos) << uninstall.output;
  EXPECT_NE(::getpwnam(user_.c_str()), nullptr) << "a user install did not create stays";
  EXPECT_EQ(ReadFile(config_dir_ + "/config"), own_config) << "a config install did not write stays";
  EXPECT_FALSE(Exists(config_dir_ + "/installed.json"));
  EXPECT_FALSE(Exists(state_)) << "--purge removes the images";
  EXPECT_FALSE(Exists(cache_));
  EXPECT_EQ(RunCommand("find " + prefix_ + " -mindepth 1").output, "");
}

TEST_F(SystemInstall, UsageErrorsAndBrokenInputsAreNamed) {
  CommandResult help = Build("system install --help");
  EXPECT_EQ(help.exit_status, 0);
  EXPECT_EQ(help.output.rfind("usage: banger system install [--prefix DIR]", 0), 0u) << help.output;
  CommandResult uninstall_help = Build("system uninstall --help");
  EXPECT_EQ(uninstall_help.exit_status, 0);
  EXPECT_NE(uninstall_help.output.find("--purge"), std::string::npos);
  EXPECT_EQ(Build("system install --bogus").exit_status, 2);
  EXPECT_EQ(Build("system install extra").exit_status, 2);
  EXPECT_EQ(Build("system uninstall --prefix /x").exit_status, 2);
  EXPECT_EQ(Build("system frobnicate").exit_status, 2);
  EXPECT_EQ(Build("system install" + Flags() + " --user " + user_).exit_status, 2) << "--user given twice";
  CommandResult bad_user = Build("system install --prefix " + prefix_ + " --config-dir " + config_dir_ + " --user 'Bad Name'");
  EXPECT_EQ(bad_user.exit_status, 1);
  EXPECT_EQ(bad_user.output.rfind("banger: error: --user wants a system user name", 0), 0u) << bad_user.output;
  CommandResult relative = Build("system install --prefix relative/dir --config-dir " + config_dir_);
  EXPECT_EQ(relative.exit_status, 1);
  EXPECT_EQ(relative.output, "banger: error: --prefix wants a clean absolute path, not 'relative/dir'\n");
  ASSERT_EQ(RunCommand("mkdir -p " + config_dir_ + " && printf 'user = x\\nnope\\n' > " + config_dir_ + "/config")
                .exit_status,
            0);
  CommandResult broken = Build("system install" + Flags());
  EXPECT_EQ(broken.exit_status, 1);
  EXPECT_EQ(broken.output, "banger: error: malformed config line, want 'key = value': 'nope' (" + config_dir_ +
                               "/config:2)\n");
  EXPECT_FALSE(Exists(prefix_ + "/bin")) << "nothing was made";
  EXPECT_EQ(::getpwnam(user_.c_str()), nullptr);

  // Not as root.
  ScratchDir dir("banger-nonroot");
  CopyExecutable(kBin + "/banger", dir.path());
  const std::string failure = RunAsNobody([&] {
    CommandResult r = RunCommand(dir.path() + "/banger system install --prefix " + dir.path());
    return r.exit_status == 1 && r.output == "banger: error: system install needs root\n" ? "" : r.output;
  });
  EXPECT_EQ(failure, "");
}

}  // namespace
}  // namespace banger::testing
