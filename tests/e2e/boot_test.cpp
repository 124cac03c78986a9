// Issue 7's boot tests: a real Debian bookworm (mmdebstrap) with systemd, and one with
// sysvinit-core + OpenRC, each with a test-only report script in one more layer, pushed
// to the test registry, pulled with banger and booted under QEMU (TCG: /dev/kvm on these
// machines cannot boot a stock kernel) with the host's Debian kernel and initrd, without a
// NIC. The serial console is a socket whose log the test reads: the report script prints
// "BANGER-REPORT <what>=<value>" lines there (tests/fixtures/guest/), and the test checks
// that banger's injected units/scripts are enabled and started, that first-boot kept its
// marker (there is no network), and that setuid binaries survived as 4755 root.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/debian_rootfs.h"
#include "tests/support/registry_fixture.h"
#include "tests/support/test_support.h"

namespace banger::testing {
namespace {

using nlohmann::json;

// The whole test stays under its ctest TIMEOUT of 480 s (tests/CMakeLists.txt), so that a
// guest that does not come up fails with its console printed rather than being killed by
// ctest. A TCG boot takes a few minutes on two cores; the margin is for a slow machine.
constexpr double kTestBudgetSeconds = 450;

std::string GuestFixtures() { return FixturesDir() + "/guest"; }

bool IsRegularFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct Kernel {
  std::string vmlinuz;
  std::string initrd;
};

// The newest /boot/vmlinuz-<version> with its /boot/initrd.img-<version> (linux-image-amd64).
Kernel NewestKernel() {
  CommandResult newest = RunCommand("ls -1 /boot 2>/dev/null | sed -n 's/^vmlinuz-//p' | sort -V | tail -n 1");
  std::string version = newest.output;
  while (!version.empty() && (version.back() == '\n' || version.back() == '\r')) version.pop_back();
  if (version.empty()) return {};
  return {"/boot/vmlinuz-" + version, "/boot/initrd.img-" + version};
}

// What this machine lacks to boot a guest, or "".
std::string MissingBootTools(const Kernel& kernel) {
  if (RunCommand("command -v qemu-system-x86_64").exit_status != 0) return "qemu-system-x86_64 (qemu-system-x86)";
  if (RunCommand("command -v skopeo").exit_status != 0) return "skopeo";
  if (kernel.vmlinuz.empty() || ::access(kernel.vmlinuz.c_str(), R_OK) != 0) return "a kernel in /boot (linux-image-amd64)";
  if (::access(kernel.initrd.c_str(), R_OK) != 0) return kernel.initrd + " (linux-image-amd64)";
  return "";
}

// The "BANGER-REPORT <key>=<value>" lines of a console log (the last one wins per key).
std::map<std::string, std::string> ParseReport(const std::string& console) {
  std::map<std::string, std::string> report;
  std::istringstream lines(console);
  std::string line;
  const std::string tag = "BANGER-REPORT ";
  while (std::getline(lines, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
    const size_t at = line.find(tag);
    if (at == std::string::npos) continue;
    const std::string rest = line.substr(at + tag.size());
    const size_t eq = rest.find('=');
    report[eq == std::string::npos ? rest : rest.substr(0, eq)] = eq == std::string::npos ? "" : rest.substr(eq + 1);
  }
  return report;
}

// report[key], or "(none)" when the guest did not report it.
std::string Value(const std::map<std::string, std::string>& report, const std::string& key) {
  const auto found = report.find(key);
  return found == report.end() ? "(none)" : found->second;
}

// The last `count` lines of `text`.
std::string Tail(const std::string& text, size_t count) {
  size_t at = text.size();
  for (size_t lines = 0; at > 0; ++lines) {
    const size_t newline = text.rfind('\n', at - 1);
    if (newline == std::string::npos) break;
    if (lines == count) return text.substr(newline + 1);
    at = newline;
  }
  return text;
}

// qemu-system-x86_64 booting `rootfs` (copy-on-write: snapshot=on) with its serial console
// on a socket in `dir`, logged to dir/console.log. Stopped when the object goes.
class Guest {
 public:
  Guest(const std::string& rootfs, const Kernel& kernel, const std::string& dir)
      : console_log_(dir + "/console.log"),
        qemu_(
            // TMPDIR: where QEMU keeps the snapshot=on overlay, inside the scratch dir.
            "env TMPDIR=" + dir + " qemu-system-x86_64 -accel tcg -machine pc -cpu max -smp 2 -m 1024" +
                " -display none -monitor none -no-reboot -nic none" + " -kernel " + kernel.vmlinuz + " -initrd " +
                kernel.initrd + " -append 'root=/dev/vda rw console=ttyS0 panic=-1'" + " -drive file=" + rootfs +
                ",format=raw,if=virtio,snapshot=on" + " -chardev socket,id=con,path=" + dir +
                "/console.sock,server=on,wait=off,logfile=" + console_log_ + " -serial chardev:con",
            dir + "/qemu.out") {}

  ~Guest() {
    // SIGTERM first, so QEMU removes its overlay; BackgroundCommand SIGKILLs what is left.
    if (qemu_.pid() > 0 && qemu_.Wait(0) < 0) {
      ::kill(qemu_.pid(), SIGTERM);
      qemu_.Wait(5000);
    }
  }

  std::string Console() const { return ReadFile(console_log_); }

  // Waits until `done` holds for the console log; false when QEMU exits first or at the deadline.
  bool WaitForConsole(const std::function<bool(const std::string&)>& done, int timeout_ms) {
    int polls = 0;
    bool exited = false;
    const bool ok = WaitFor(
        [&] {
          if (++polls % 25 != 0) return false;  // WaitFor polls every 20 ms: read the log every 0.5 s
          if (done(Console())) return true;
          exited = qemu_.Wait(0) >= 0;
          return exited;
        },
        timeout_ms);
    if (exited) return done(Console());
    return ok;
  }

  bool Running() { return qemu_.Wait(0) < 0; }

  std::string Diagnosis() const {
    return "--- QEMU output ---\n" + qemu_.Output() + "--- the console's last 200 lines ---\n" +
           Tail(Console(), 200);
  }

 private:
  std::string console_log_;
  BackgroundCommand qemu_;
};

// Prints the guest's console tail when the test has failed by the time it goes.
class ConsoleOnFailure {
 public:
  explicit ConsoleOnFailure(const Guest& guest) : guest_(guest) {}
  ~ConsoleOnFailure() {
    if (::testing::Test::HasFailure()) std::cerr << guest_.Diagnosis() << std::endl;
  }

 private:
  const Guest& guest_;
};

class BootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BANGER_REQUIRE_ROOT();
    kernel_ = NewestKernel();
    const std::string missing = MissingBootTools(kernel_);
    if (!missing.empty()) BANGER_CANNOT_RUN("the boot test needs " << missing << " (scripts/install-deps.sh installs it)");
    start_ = std::chrono::steady_clock::now();
  }

  // The guest's report on stdout, for the test log.
  static void Show(const std::map<std::string, std::string>& report) {
    for (const auto& [key, value] : report) std::cout << "[ guest ] " << key << "=" << value << "\n";
    std::cout << std::flush;
  }

  // What is left of the test's budget for the boot (at least a minute), in milliseconds.
  int BootTimeoutMs() const {
    const double left = kTestBudgetSeconds - SecondsSince(start_);
    return static_cast<int>((left > 60 ? left : 60) * 1000);
  }

  void Phase(const std::string& what) {
    std::cout << "[ boot test ] " << what << " at " << static_cast<int>(SecondsSince(start_)) << " s" << std::endl;
  }

  // The Debian rootfs tarball plus one layer with `adds` (--add) and `symlinks` (--symlink),
  // pushed as `repo`:test and pulled with banger. Returns the pull's JSON result (null on failure).
  json BuildPushPull(const DebianRootfs& rootfs, const std::string& repo, const std::vector<std::string>& adds,
                     const std::vector<std::string>& symlinks) {
    const std::string tar = DebianRootfsTar(rootfs);
    if (tar.empty()) return nullptr;
    // mmdebstrap picks its output format from the target's name unless told --format=tar:
    // a cached fixture made without it is a directory.
    EXPECT_TRUE(IsRegularFile(tar)) << tar << " is not a tarball (mmdebstrap made a directory?)";
    if (!IsRegularFile(tar)) return nullptr;
    Phase("rootfs tarball ready");

    const std::string layout = work_.path() + "/layout";
    std::string command = "/usr/bin/python3 " + FixturesDir() + "/rootfs_image.py --rootfs " + tar + " --out " +
                          layout + " --tag image --layers 1 --level 1";
    for (const auto& add : adds) command += " --add " + add;
    for (const auto& symlink : symlinks) command += " --symlink " + symlink;
    CommandResult image = RunCommand(command);
    EXPECT_EQ(image.exit_status, 0) << image.output;
    if (image.exit_status != 0) return nullptr;
    Phase("image layout written");

    registry_ = TestRegistry::Start();
    if (!registry_) return nullptr;
    if (!registry_->PushLayout(layout, "image", repo, "test")) {
      ADD_FAILURE() << "skopeo could not push " << layout;
      return nullptr;
    }
    Phase("pushed");

    CommandResult pull = RunCommand("env BANGER_STATE_DIR=" + state_.path() + " BANGER_CACHE_DIR=" + state_.path() +
                                    " DOCKER_CONFIG=" + state_.path() + " " + kBin + "/banger image pull --json " +
                                    registry_->host() + "/" + repo + ":test");
    EXPECT_EQ(pull.exit_status, 0) << pull.output;
    if (pull.exit_status != 0) return nullptr;
    json record = LastJsonLine(pull.output);
    EXPECT_TRUE(record.is_object() && record.contains("rootfs")) << pull.output;
    if (!record.is_object() || !record.contains("rootfs")) return nullptr;
    Phase("pulled");
    return record;
  }

  static std::string Fixture(const std::string& name) { return GuestFixtures() + "/" + name; }

  Kernel kernel_;
  std::chrono::steady_clock::time_point start_;
  ScratchDir work_{"banger-boot"};
  ScratchDir state_{"banger-boot-state"};
  ScratchDir vm_{"banger-boot-vm"};
  std::unique_ptr<TestRegistry> registry_;
};

// The setuid binaries the guest reports: each 4755 root, /usr/bin/passwd and su among them.
void ExpectSetuidIntact(const std::map<std::string, std::string>& report) {
  size_t setuid = 0;
  for (const auto& [key, value] : report) {
    if (key.rfind("setuid ", 0) != 0) continue;
    ++setuid;
    EXPECT_EQ(value, "4755 root") << key;
  }
  EXPECT_GE(setuid, 2u) << "the guest found its setuid binaries";
  ASSERT_TRUE(report.count("setuid /usr/bin/passwd")) << "/usr/bin/passwd is setuid in the guest";
  ASSERT_TRUE(report.count("setuid /usr/bin/su") || report.count("setuid /bin/su")) << "su is setuid in the guest";
}

TEST_F(BootTest, SystemdGuestEnablesAndStartsBangerUnits) {
  const std::string units = "/etc/systemd/system/";
  json record = BuildPushPull(
      BookwormSystemd(), "banger/boot-systemd",
      {units + "banger-test-report.service=" + Fixture("banger-test-report.service") + ":0644",
       "/usr/local/sbin/banger-test-report=" + Fixture("report-systemd.sh") + ":0755",
       "/usr/local/lib/banger-test/report-common.sh=" + Fixture("report-common.sh")},
      {units + "multi-user.target.wants/banger-test-report.service=" + units + "banger-test-report.service"});
  ASSERT_FALSE(record.is_null());
  ASSERT_EQ(record["guest"]["init"], "systemd") << record.dump();

  Guest guest(record["rootfs"], kernel_, vm_.path());
  ConsoleOnFailure diagnosis(guest);
  const bool reported = guest.WaitForConsole(
      [](const std::string& console) { return console.find("BANGER-REPORT done") != std::string::npos; },
      BootTimeoutMs());
  Phase("guest reported");
  ASSERT_TRUE(reported) << (guest.Running() ? "no report within the deadline" : "QEMU exited before the report");

  const std::string console = guest.Console();
  const auto report = ParseReport(console);
  Show(report);
  const std::string system = Value(report, "system");
  EXPECT_TRUE(system == "running" || system == "degraded") << "the boot finished (is-system-running: " << system << ")";
  for (const char* unit : {"banger-network", "banger-first-boot", "banger-vsock-agent"}) {
    EXPECT_EQ(Value(report, std::string("enabled ") + unit), "enabled") << unit;
  }
  // No banger.* parameters: the network helper changes nothing and stays active; the agent
  // waits for a vsock device that never comes and stays active too.
  for (const char* unit : {"banger-network", "banger-vsock-agent"}) {
    EXPECT_EQ(Value(report, std::string("active ") + unit), "active") << unit;
  }
  EXPECT_EQ(Value(report, "restarts banger-vsock-agent"), "0") << "the agent waits for vsock, never exits";
  // first-boot ran (it logs to the console), found no network and kept its marker.
  EXPECT_NE(console.find("banger-first-boot:"), std::string::npos) << "banger-first-boot logged on the console";
  EXPECT_EQ(Value(report, "marker"), "present");
  ExpectSetuidIntact(report);
}

TEST_F(BootTest, OpenRcGuestStartsBangerServicesAndReachesLogin) {
  json record = BuildPushPull(BookwormOpenRc(), "banger/boot-openrc",
                              {"/etc/inittab=" + Fixture("inittab-openrc") + ":0644",
                               "/usr/local/sbin/banger-test-report=" + Fixture("report-openrc.sh") + ":0755",
                               "/usr/local/lib/banger-test/report-common.sh=" + Fixture("report-common.sh")},
                              {});
  ASSERT_FALSE(record.is_null());
  ASSERT_EQ(record["guest"]["init"], "openrc") << record.dump();

  Guest guest(record["rootfs"], kernel_, vm_.path());
  ConsoleOnFailure diagnosis(guest);
  // The report runs after the runlevel is up and before the serial getty (inittab order).
  const bool login = guest.WaitForConsole(
      [](const std::string& console) {
        const size_t done = console.find("BANGER-REPORT done");
        return done != std::string::npos && console.find("login:", done) != std::string::npos;
      },
      BootTimeoutMs());
  Phase("guest reported and showed its login prompt");
  const std::string console = guest.Console();
  ASSERT_NE(console.find("BANGER-REPORT done"), std::string::npos)
      << (guest.Running() ? "no report within the deadline" : "QEMU exited before the report");
  EXPECT_TRUE(login) << "no login prompt on the serial console";

  const auto report = ParseReport(console);
  Show(report);
  for (const char* name : {"banger-network", "banger-first-boot", "banger-vsock-agent"}) {
    const std::string service = name;
    EXPECT_EQ(Value(report, "enabled " + service), "default") << service << " is in the default runlevel";
    EXPECT_EQ(Value(report, "link " + service), "/etc/init.d/" + service);
  }
  for (const char* name : {"banger-network", "banger-vsock-agent"}) {
    const std::string service = name;
    EXPECT_EQ(Value(report, "status " + service), "started") << service;
  }
  EXPECT_EQ(Value(report, "process banger-vsock-agent"), "running");
  // Counted by supervise-daemon (OpenRC >= 0.21, which bookworm has).
  EXPECT_EQ(Value(report, "respawns banger-vsock-agent"), "0") << "the agent waits for vsock, never exits";
  EXPECT_NE(console.find("banger-first-boot:"), std::string::npos) << "banger-first-boot logged on the console";
  EXPECT_EQ(Value(report, "marker"), "present") << "no network: first-boot kept it";
  ExpectSetuidIntact(report);
}

}  // namespace
}  // namespace banger::testing
