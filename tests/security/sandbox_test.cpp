// The sandbox, proven from outside: forbidden syscalls kill the child and are named,
// /proc shows it confined, its root is empty, its network is its own, rlimits hold, and
// it never outlives its parent. Run as root and, where marked, again as nobody.
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "security/proc_status.h"
#include "tests/security/sandbox_fixture.h"
#include "tests/support/test_support.h"

namespace banger::testing {
namespace {

using security::ProcessKind;

const ProcessKind kAllKinds[] = {ProcessKind::kFetcher, ProcessKind::kUnpacker, ProcessKind::kImager};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::set<std::string> Interfaces(pid_t pid) {
  std::istringstream lines(ReadFile("/proc/" + std::to_string(pid) + "/net/dev"));
  std::set<std::string> names;
  std::string line;
  for (int skip = 0; skip < 2 && std::getline(lines, line); ++skip) {
  }
  while (std::getline(lines, line)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    name.erase(0, name.find_first_not_of(' '));
    names.insert(name);
  }
  return names;
}

// "" when the violation was reported as expected, else what went wrong.
std::string ExpectViolation(ProbeOptions options, const std::string& syscall) {
  std::string action = options.action;
  auto probe = StartProbe(std::move(options));
  if (!probe) return "probe did not start: " + probe.error().message;
  auto result = Poke(*probe);
  if (result) return action + " was not stopped (errno " + std::to_string(*result) + ")";
  if (result.error().code != ErrorCode::kSandbox) return "not reported as a sandbox error: " + result.error().message;
  const std::string expected = "sandbox violation: " + syscall;
  if (result.error().message.find(expected) == std::string::npos) {
    return "expected '" + expected + "' in: " + result.error().message;
  }
  const auto& end = probe->exit();
  if (!end || !end->signaled || end->signal != SIGSYS) return "the child was not killed by SIGSYS";
  return "";
}

// "" when /proc shows the probe confined, with an empty root and (if asked) only lo.
std::string ExpectConfined(security::SandboxedChild& probe, ProcessKind kind) {
  const std::string proc = "/proc/" + std::to_string(probe.pid());
  auto status = security::ReadProcStatus(probe.pid());
  if (!status) return status.error().message;
  if (auto confined = security::VerifyConfined(*status, "probe"); !confined) return confined.error().message;
  std::string error;
  std::vector<std::string> root = ListDirectory(proc + "/root", &error);
  if (!error.empty()) return "cannot list the child's root: " + error;
  if (kind == ProcessKind::kFetcher) {
    for (const std::string& name : root) {
      if (name != "etc" && name != "usr") return "fetcher root shows /" + name;
    }
    if (::access((proc + "/root/etc/passwd").c_str(), F_OK) == 0) return "fetcher sees /etc/passwd";
    if (::access("/etc/ssl/certs", F_OK) == 0 && ListDirectory(proc + "/root/etc/ssl/certs").empty()) {
      return "fetcher does not see the CA certificates";
    }
  } else if (!root.empty()) {
    return "root is not empty: first entry /" + root.front();
  }
  std::set<std::string> interfaces = Interfaces(probe.pid());
  if (interfaces != std::set<std::string>{"lo"}) {
    std::string all;
    for (const auto& i : interfaces) all += i + " ";
    return "network namespace shows: " + all;
  }
  return "";
}

struct ViolationCase {
  ProcessKind kind;
  const char* action;
  const char* syscall;
};

void PrintTo(const ViolationCase& c, std::ostream* os) {
  *os << security::ProcessKindName(c.kind) << " calls " << c.action;
}

class ForbiddenSyscall : public ::testing::TestWithParam<ViolationCase> {};

TEST_P(ForbiddenSyscall, KillsTheChildAndIsNamed) {
  const ViolationCase& c = GetParam();
  EXPECT_EQ(ExpectViolation(Probe(c.kind, c.action), c.syscall), "");
}

INSTANTIATE_TEST_SUITE_P(
    AllKinds, ForbiddenSyscall,
    ::testing::Values(ViolationCase{ProcessKind::kUnpacker, "open", "openat"},
                      ViolationCase{ProcessKind::kUnpacker, "socket", "socket"},
                      ViolationCase{ProcessKind::kUnpacker, "execve", "execve"},
                      ViolationCase{ProcessKind::kUnpacker, "ptrace", "ptrace"},
                      ViolationCase{ProcessKind::kImager, "open", "openat"},
                      ViolationCase{ProcessKind::kImager, "socket", "socket"},
                      ViolationCase{ProcessKind::kImager, "execve", "execve"},
                      ViolationCase{ProcessKind::kImager, "ptrace", "ptrace"},
                      ViolationCase{ProcessKind::kFetcher, "execve", "execve"},
                      ViolationCase{ProcessKind::kFetcher, "ptrace", "ptrace"},
                      ViolationCase{ProcessKind::kFetcher, "socket_sock_diag", "socket"},
                      ViolationCase{ProcessKind::kFetcher, "fcntl_setown", "fcntl"},
                      ViolationCase{ProcessKind::kFetcher, "bind", "bind"},
                      ViolationCase{ProcessKind::kFetcher, "sendto_fastopen", "sendto"},
                      ViolationCase{ProcessKind::kImager, "fallocate_keep_size", "fallocate"},
                      ViolationCase{ProcessKind::kFetcher, "fcntl_setsig", "fcntl"},
                      ViolationCase{ProcessKind::kFetcher, "fcntl_async", "fcntl"},
                      ViolationCase{ProcessKind::kUnpacker, "fcntl_setown", "fcntl"},
                      ViolationCase{ProcessKind::kUnpacker, "fcntl_lease", "fcntl"},
                      ViolationCase{ProcessKind::kImager, "fcntl_setown", "fcntl"},
                      ViolationCase{ProcessKind::kImager, "fcntl_async", "fcntl"}),
    [](const auto& info) {
      return std::string(security::ProcessKindName(info.param.kind)) + "_" + info.param.action;
    });

// The fetcher reaches the internet and the routing netlink its resolver asks, nothing of
// the host's own sockets; every helper may still set its descriptors' ordinary flags.
// ... and points no socket anywhere: the broker's come connected, and a connect (to
// another address, or AF_UNSPEC to disconnect one) returns 0 and leaves it as it was.
TEST(Sandbox, TheFetcherOpensOnlyInternetAndRoutingSockets) {
  for (const auto& [action, expected_errno] : std::vector<std::pair<std::string, int>>{
           {"socket", 0}, {"socket_route", 0}, {"socket_unix", EACCES}, {"connect", ENOTCONN}, {"disconnect", 0}}) {
    SCOPED_TRACE(action);
    auto probe = StartProbe(Probe(ProcessKind::kFetcher, action));
    ASSERT_TRUE(probe) << probe.error().message;
    auto result = Poke(*probe);
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(*result, expected_errno);
  }
  for (ProcessKind kind : {ProcessKind::kFetcher, ProcessKind::kUnpacker, ProcessKind::kImager}) {
    auto probe = StartProbe(Probe(kind, "fcntl_nonblock"));
    ASSERT_TRUE(probe) << probe.error().message;
    auto result = Poke(*probe);
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(*result, 0);
  }
}

TEST(Sandbox, UnlistedSyscallMeetsTheDefaultKill) {
  auto probe = StartProbe(Probe(ProcessKind::kUnpacker, "unlisted-syscall"));
  ASSERT_TRUE(probe) << probe.error().message;
  auto result = Poke(*probe);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kSandbox);
  EXPECT_NE(result.error().message.find("sandbox violation"), std::string::npos) << result.error().message;
  ASSERT_TRUE(probe->exit());
  EXPECT_EQ(probe->exit()->signal, SIGSYS);
}

// The imager writes metadata only: the kernel-side copy and the writeback hint it once
// used (spool to image) are gone from its policy, so trying either meets the default kill.
TEST(Sandbox, TheImagerNeitherCopiesNorStartsWritebackInTheKernel) {
  for (const char* action : {"copy_file_range", "sync_file_range"}) {
    SCOPED_TRACE(action);
    auto probe = StartProbe(Probe(ProcessKind::kImager, action));
    ASSERT_TRUE(probe) << probe.error().message;
    auto result = Poke(*probe);
    ASSERT_FALSE(result) << action << " returned errno " << *result;
    EXPECT_EQ(result.error().code, ErrorCode::kSandbox) << result.error().message;
    ASSERT_TRUE(probe->exit());
    EXPECT_EQ(probe->exit()->signal, SIGSYS);
  }
}

TEST(Sandbox, EveryKindIsConfinedAsProcShows) {
  for (ProcessKind kind : kAllKinds) {
    auto probe = StartProbe(Probe(kind));
    ASSERT_TRUE(probe) << probe.error().message;
    EXPECT_EQ(ExpectConfined(*probe, kind), "") << security::ProcessKindName(kind);
    const auto& s = probe->status_at_lock();
    EXPECT_TRUE(s.no_new_privs);
    EXPECT_EQ(s.seccomp_mode, 2);
    EXPECT_EQ(s.cap_eff, 0u);
    EXPECT_EQ(s.cap_prm, 0u);
    EXPECT_EQ(s.cap_bnd, 0u);
    for (uid_t uid : s.uids) EXPECT_NE(uid, 0u);
    if (::geteuid() == 0) {
      for (gid_t gid : s.gids) EXPECT_NE(gid, 0u);
    }
  }
}

std::string NamespaceOf(pid_t pid, const char* kind) {
  char link[64] = {};
  const std::string path = "/proc/" + (pid == 0 ? std::string("self") : std::to_string(pid)) + "/ns/" + kind;
  return ::readlink(path.c_str(), link, sizeof link - 1) > 0 ? std::string(link) : "unreadable " + path;
}

// No helper can name another process: each is PID 1 of a PID namespace of its own, and
// two helpers never share one (a compromised helper cannot reach its neighbour).
TEST(Sandbox, EachHelperIsAloneInAPidNamespaceOfItsOwn) {
  std::set<std::string> namespaces = {NamespaceOf(0, "pid")};
  std::vector<security::SandboxedChild> running;
  for (ProcessKind kind : {ProcessKind::kFetcher, ProcessKind::kUnpacker, ProcessKind::kImager, ProcessKind::kUnpacker}) {
    auto probe = StartProbe(Probe(kind, "pids"));
    ASSERT_TRUE(probe) << probe.error().message;
    EXPECT_TRUE(probe->status_at_lock().alone_in_pid_namespace()) << security::ProcessKindName(kind);
    auto result = Poke(*probe);
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(*result, 0) << security::ProcessKindName(kind) << " does not see itself as PID 1 with no parent";
    EXPECT_TRUE(namespaces.insert(NamespaceOf(probe->pid(), "pid")).second)
        << security::ProcessKindName(kind) << " shares a PID namespace";
    running.push_back(std::move(*probe));
  }
}

TEST(Sandbox, RootIsReadOnlyEvenForRoot) {
  auto probe = StartProbe(Probe(ProcessKind::kUnpacker));
  ASSERT_TRUE(probe) << probe.error().message;
  const std::string path = "/proc/" + std::to_string(probe->pid()) + "/root/planted";
  int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  EXPECT_LT(fd, 0);
  EXPECT_EQ(errno, EROFS);
  if (fd >= 0) ::close(fd);
}

// The fetcher too: it has a network namespace of its own with only a loopback that is
// down, and reaches out only through sockets the broker connects (network_gate.h).
TEST(Sandbox, NoHelperSharesTheHostNetwork) {
  for (ProcessKind kind : kAllKinds) {
    auto probe = StartProbe(Probe(kind));
    ASSERT_TRUE(probe) << probe.error().message;
    char mine[64] = {}, theirs[64] = {};
    ASSERT_GT(::readlink("/proc/self/ns/net", mine, sizeof mine - 1), 0);
    ASSERT_GT(::readlink(("/proc/" + std::to_string(probe->pid()) + "/ns/net").c_str(), theirs, sizeof theirs - 1), 0);
    EXPECT_STRNE(mine, theirs) << ProcessKindName(kind);
    EXPECT_EQ(Interfaces(probe->pid()), std::set<std::string>{"lo"}) << ProcessKindName(kind);
  }
}

TEST(Sandbox, ThreadsWorkInsideTheJail) {
  auto probe = StartProbe(Probe(ProcessKind::kUnpacker, "thread"));
  ASSERT_TRUE(probe) << probe.error().message;
  auto result = Poke(*probe);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(*result, 0);
}

// The helpers whose policy allows no open: a thread that frees the top of its heap once
// had glibc open /proc/sys/vm/overcommit_memory, and the sandbox killed the helper.
// (The fetcher's policy lets it open files read-only, so it could not fail there.)
TEST(Sandbox, AWorkerThreadMayFreeItsHeapInsideTheJail) {
  for (ProcessKind kind : {ProcessKind::kUnpacker, ProcessKind::kImager}) {
    auto probe = StartProbe(Probe(kind, "thread-heap"));
    ASSERT_TRUE(probe) << ProcessKindName(kind) << ": " << probe.error().message;
    auto result = Poke(*probe);
    ASSERT_TRUE(result) << ProcessKindName(kind) << ": " << result.error().message;
    EXPECT_EQ(*result, 0) << ProcessKindName(kind);
  }
}

TEST(Sandbox, AbortIsACrashNotAViolation) {
  auto probe = StartProbe(Probe(ProcessKind::kImager, "abort"));
  ASSERT_TRUE(probe) << probe.error().message;
  auto result = Poke(*probe);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kChildFailed);
  // As PID 1 of its namespace the helper cannot die of its own SIGABRT; it exits as a
  // shell reports one (lockdown.cpp) and says so.
  EXPECT_NE(result.error().message.find("exited with status 134: aborted"), std::string::npos)
      << result.error().message;
}

TEST(Sandbox, MalformedFrameIsTheChildsFailure) {
  auto probe = StartProbe(Probe(ProcessKind::kUnpacker, "garbage"));
  ASSERT_TRUE(probe) << probe.error().message;
  auto result = Poke(*probe);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::kChildFailed);
  EXPECT_NE(result.error().message.find("unknown message type"), std::string::npos) << result.error().message;
  ASSERT_TRUE(probe->exit()) << "a child that sends garbage is stopped";
}

TEST(Sandbox, ShutdownEndsTheChildCleanly) {
  auto probe = StartProbe(Probe(ProcessKind::kFetcher));
  ASSERT_TRUE(probe) << probe.error().message;
  auto pong = Poke(*probe);
  ASSERT_TRUE(pong) << pong.error().message;
  ASSERT_TRUE(probe->Send(ipc::Message::Make(ipc::MessageType::kShutdown)));
  security::ChildExit end = probe->Wait(10000);
  EXPECT_FALSE(end.signaled);
  EXPECT_EQ(end.code, 0);
}

// Limits small enough to hit quickly; each is proven by the kernel refusing the excess.
void TightLimits(security::SandboxSpec& spec) {
  spec.limits.address_space_bytes = 768ull << 20;
  spec.limits.open_files = 32;
  spec.limits.file_size_bytes = 1 << 20;
  spec.limits.cpu_seconds = 1;
  spec.limits.processes = 64;
}

TEST(Sandbox, RlimitsAreSetAsSpecified) {
  auto probe = StartProbe(Probe(ProcessKind::kUnpacker).Adjust(TightLimits));
  ASSERT_TRUE(probe) << probe.error().message;
  const std::string limits = ReadFile("/proc/" + std::to_string(probe->pid()) + "/limits");
  auto expect_row = [&](const std::string& row, const std::string& value) {
    size_t at = limits.find(row);
    ASSERT_NE(at, std::string::npos) << row;
    std::istringstream fields(limits.substr(at + row.size()));
    std::string soft, hard;
    fields >> soft >> hard;
    EXPECT_EQ(soft, value) << row;
    EXPECT_EQ(hard, value) << row;
  };
#if !defined(__SANITIZE_ADDRESS__)
  expect_row("Max address space", std::to_string(768ull << 20));
#endif
  expect_row("Max open files", "32");
  expect_row("Max file size", std::to_string(1 << 20));
  expect_row("Max cpu time", "1");
  expect_row("Max processes", "64");
  expect_row("Max core file size", "0");
}

// "" when the kernel refuses each excess the tight limits forbid, else what went wrong.
std::string ExpectRlimitsHold(const std::string& probe_path) {
  auto errno_of = [&](const std::string& action, UniqueFd passed = UniqueFd()) -> Result<int> {
    ProbeOptions options = Probe(ProcessKind::kUnpacker, action).Adjust(TightLimits).From(probe_path);
    if (passed) options.passed_fds.push_back(std::move(passed));
    BANGER_ASSIGN_OR_RETURN(auto probe, StartProbe(std::move(options)));
    return Poke(probe);
  };
  auto expect = [&](const std::string& action, int wanted, UniqueFd passed = UniqueFd()) -> std::string {
    auto result = errno_of(action, std::move(passed));
    if (!result) return action + ": " + result.error().message;
    if (*result != wanted) return action + " ended with errno " + std::to_string(*result) + ", wanted " + std::to_string(wanted);
    return "";
  };
  std::string failures;
#if !defined(__SANITIZE_ADDRESS__)  // AddressSanitizer cannot run under RLIMIT_AS
  failures += expect("map-2GiB", ENOMEM);
#endif
  std::string scratch = "/tmp/banger-fsize-XXXXXX";
  UniqueFd file(::mkstemp(scratch.data()));
  ::unlink(scratch.c_str());
  failures += expect("write-past-fsize", EFBIG, std::move(file));
  failures += expect("raise-fsize", EPERM);
  failures += expect("exhaust-fds", EMFILE);
  auto probe = StartProbe(Probe(ProcessKind::kUnpacker, "burn-cpu").Adjust(TightLimits).From(probe_path));
  if (!probe) return failures + "burn-cpu: " + probe.error().message;
  auto result = Poke(*probe);
  if (result || !probe->exit() || (probe->exit()->signal != SIGXCPU && probe->exit()->signal != SIGKILL)) {
    failures += "burn-cpu was not stopped by RLIMIT_CPU";
  }
  return failures;
}

TEST(Sandbox, RlimitsHold) { EXPECT_EQ(ExpectRlimitsHold(ProbePath()), ""); }

TEST(Sandbox, ChildHoldsOnlyItsFixedDescriptors) {
  // A descriptor the broker opened without O_CLOEXEC must still not reach the child.
  int leaky = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(leaky, 0);
  auto probe = StartProbe(Probe(ProcessKind::kImager).Pass(UniqueFd(::open("/dev/zero", O_RDONLY | O_CLOEXEC))));
  ::close(leaky);
  ASSERT_TRUE(probe) << probe.error().message;
  std::vector<std::string> fds = ListDirectory("/proc/" + std::to_string(probe->pid()) + "/fd");
  std::sort(fds.begin(), fds.end());
  EXPECT_EQ(fds, (std::vector<std::string>{"0", "1", "2", "3", "4"}));
}

// The broker (here: an intermediate process) dies by SIGKILL; its sandboxed child must follow.
std::string ExpectChildDiesWithParent(const std::string& probe_path) {
  int report[2];
  if (::pipe(report) != 0) return "pipe failed";
  pid_t broker = ::fork();
  if (broker == 0) {
    ::close(report[0]);
    auto probe = StartProbe(Probe(ProcessKind::kUnpacker).From(probe_path));
    pid_t pid = probe ? probe->pid() : -1;
    [[maybe_unused]] ssize_t n = ::write(report[1], &pid, sizeof pid);
    for (;;) ::pause();
  }
  ::close(report[1]);
  pid_t child = -1;
  ssize_t n = ::read(report[0], &child, sizeof child);
  ::close(report[0]);
  if (n != sizeof child || child <= 0) {
    ::kill(broker, SIGKILL);
    ::waitpid(broker, nullptr, 0);
    return "the intermediate broker could not start the probe";
  }
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, child, 0)));
  if (!pidfd) return "pidfd_open failed";
  // Stopped, the probe cannot notice its channel closing and exit by itself: only the
  // parent-death signal (SIGKILL, which a stopped process still takes) can end it.
  if (::kill(child, SIGSTOP) != 0) return std::string("SIGSTOP of the probe failed: ") + std::strerror(errno);
  pollfd pfd{pidfd.get(), POLLIN, 0};
  if (::poll(&pfd, 1, 200) != 0) return "the probe ended before its parent did";
  ::kill(broker, SIGKILL);
  ::waitpid(broker, nullptr, 0);
  if (::poll(&pfd, 1, 10000) != 1) {
    ::kill(child, SIGKILL);
    return "the sandboxed child outlived its parent by 10 s";
  }
  return "";
}

TEST(Sandbox, NoChildOutlivesItsParent) { EXPECT_EQ(ExpectChildDiesWithParent(ProbePath()), ""); }

TEST(Sandbox, HelperRefusesTheSandboxOfAnotherKind) {
  security::SpawnOptions spawn;
  spawn.executable = std::string(BANGER_BIN_DIR) + "/banger-unpacker";
  spawn.name = "banger-unpacker";
  spawn.spec = security::SpecForCurrentBroker(ProcessKind::kFetcher);
  auto child = security::SandboxedChild::Spawn(std::move(spawn));
  ASSERT_FALSE(child);
  EXPECT_NE(child.error().message.find("was given the sandbox of the fetcher process"), std::string::npos)
      << child.error().message;
}

// --- The same proofs when the broker itself is not root (user namespace mode). ---

class AsNobody : public ::testing::Test {
 protected:
  void SetUp() override {
    BANGER_REQUIRE_ROOT();  // root is needed only to become nobody
    probe_ = CopyExecutable(ProbePath(), scratch_.path());
  }
  ScratchDir scratch_;
  std::string probe_;
};

TEST_F(AsNobody, ForbiddenSyscallsKillAndAreNamed) {
  const std::string probe = probe_;
  EXPECT_EQ(RunAsNobody([&] {
              for (auto [action, syscall] : {std::pair{"open", "openat"}, {"socket", "socket"},
                                             {"execve", "execve"}, {"ptrace", "ptrace"}}) {
                std::string failure =
                    ExpectViolation(Probe(ProcessKind::kUnpacker, action).From(probe), syscall);
                if (!failure.empty()) return failure;
              }
              return std::string();
            }),
            "");
}

TEST_F(AsNobody, EveryKindIsConfined) {
  const std::string probe = probe_;
  EXPECT_EQ(RunAsNobody([&] {
              for (ProcessKind kind : kAllKinds) {
                auto child = StartProbe(Probe(kind).From(probe));
                if (!child) return std::string(security::ProcessKindName(kind)) + ": " + child.error().message;
                if (child->status_at_lock().uids[1] != 65534) {
                  return "uid seen from outside is " + std::to_string(child->status_at_lock().uids[1]) +
                         ", expected the broker's own 65534";
                }
                std::string failure = ExpectConfined(*child, kind);
                if (!failure.empty()) return std::string(security::ProcessKindName(kind)) + ": " + failure;
              }
              return std::string();
            }),
            "");
}

TEST_F(AsNobody, RlimitsHold) {
  const std::string probe = probe_;
  EXPECT_EQ(RunAsNobody([&] { return ExpectRlimitsHold(probe); }), "");
}

TEST_F(AsNobody, NoChildOutlivesItsParent) {
  const std::string probe = probe_;
  EXPECT_EQ(RunAsNobody([&] { return ExpectChildDiesWithParent(probe); }), "");
}

}  // namespace
}  // namespace banger::testing
