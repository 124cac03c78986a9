// Unit tests of the sandbox's data: the spec's wire form, /proc parsing, the policies.
#include <seccomp.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "security/proc_status.h"
#include "security/sandbox_spec.h"
#include "security/seccomp_policy.h"

namespace banger::security {
namespace {

constexpr const char* kConfinedStatus =
    "Name:\tbanger-unpacker\nUid:\t65534\t65534\t65534\t65534\nGid:\t65534\t65534\t65534\t65534\nGroups:\t\n"
    "CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n"
    "CapBnd:\t0000000000000000\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n"
    "Seccomp_filters:\t1\nNSpid:\t4242\t1\n";

TEST(ProcStatus, ParsesAndAcceptsAConfinedChild) {
  auto status = ParseProcStatus(kConfinedStatus);
  ASSERT_TRUE(status) << status.error().message;
  EXPECT_TRUE(status->no_new_privs);
  EXPECT_EQ(status->seccomp_mode, 2);
  EXPECT_EQ(status->uids[3], 65534u);
  EXPECT_EQ(status->namespace_pids, (std::vector<pid_t>{4242, 1}));
  EXPECT_TRUE(status->groups.empty());
  EXPECT_TRUE(VerifyConfined(*status, "child"));
  std::string with_groups = kConfinedStatus;
  with_groups.replace(with_groups.find("Groups:\t"), 8, "Groups:\t4 24 27 ");
  EXPECT_EQ(ParseProcStatus(with_groups)->groups, (std::vector<gid_t>{4, 24, 27}));
}

TEST(ProcStatus, NamesEveryMissingConfinement) {
  std::string text = kConfinedStatus;
  text.replace(text.find("NoNewPrivs:\t1"), 13, "NoNewPrivs:\t0");
  text.replace(text.find("CapEff:\t0000000000000000"), 24, "CapEff:\t000001ffffffffff");
  text.replace(text.find("Uid:\t65534"), 10, "Uid:\t0");
  text.replace(text.find("NSpid:\t4242\t1"), 13, "NSpid:\t4242");
  auto status = ParseProcStatus(text);
  ASSERT_TRUE(status);
  auto verdict = VerifyConfined(*status, "banger-imager");
  ASSERT_FALSE(verdict);
  EXPECT_EQ(verdict.error().code, ErrorCode::kSandbox);
  EXPECT_EQ(verdict.error().message,
            "banger-imager is not confined: NoNewPrivs is 0, CapEff is 1ffffffffff, "
            "not PID 1 of a PID namespace of its own, runs as uid 0");
}

TEST(ProcStatus, APidNamespaceMeansPidOneBelowTheReader) {
  for (const auto& [nspid, alone] : std::vector<std::pair<std::string, bool>>{
           {"NSpid:\t4242\t1\n", true}, {"NSpid:\t77\t4242\t1\n", true}, {"NSpid:\t4242\n", false},
           {"NSpid:\t1\n", false}, {"NSpid:\t4242\t2\n", false}, {"", false}}) {
    std::string text = kConfinedStatus;
    text.replace(text.find("NSpid:"), std::string::npos, nspid);
    auto status = ParseProcStatus(text);
    ASSERT_TRUE(status) << nspid;
    EXPECT_EQ(status->alone_in_pid_namespace(), alone) << nspid;
  }
  std::string unreadable = kConfinedStatus;
  unreadable.replace(unreadable.find("NSpid:"), std::string::npos, "NSpid:\t4242\tx1\n");
  auto status = ParseProcStatus(unreadable);
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, ErrorCode::kMalformed);
}

TEST(ProcStatus, MissingFieldIsMalformed) {
  auto status = ParseProcStatus("Name:\tx\nUid:\t1\t1\t1\t1\n");
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code, ErrorCode::kMalformed);
}

TEST(ProcLimits, ReadsTheFileSizeRow) {
  constexpr const char* kLimits =
      "Limit                     Soft Limit           Hard Limit           Units     \n"
      "Max cpu time              3600                 3600                 seconds   \n"
      "Max file size             1073741824           2147483648           bytes     \n"
      "Max data size             unlimited            unlimited            bytes     \n";
  auto limits = ParseFileSizeLimits(kLimits);
  ASSERT_TRUE(limits) << limits.error().message;
  EXPECT_EQ(limits->soft, 1073741824u);
  EXPECT_EQ(limits->hard, 2147483648u);
  auto unlimited = ParseFileSizeLimits("Max file size             unlimited            unlimited            bytes\n");
  ASSERT_TRUE(unlimited);
  EXPECT_EQ(unlimited->hard, UINT64_MAX);
  for (const char* bad : {"", "Max file size             lots                 1                    bytes\n",
                          "XMax file size             1                    1                    bytes\n"}) {
    auto refused = ParseFileSizeLimits(bad);
    ASSERT_FALSE(refused) << bad;
    EXPECT_EQ(refused.error().code, ErrorCode::kMalformed);
  }
}

TEST(SandboxSpec, RoundTripsThroughJson) {
  SandboxSpec spec = DefaultSpec(ProcessKind::kFetcher);
  spec.uid = 1234;
  spec.use_user_namespace = true;
  spec.limits.cpu_seconds = 17;
  auto back = SpecFromJson(SpecToJson(spec));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->kind, ProcessKind::kFetcher);
  EXPECT_EQ(back->uid, 1234u);
  EXPECT_TRUE(back->use_user_namespace);
  EXPECT_TRUE(back->new_network_namespace);
  EXPECT_EQ(back->readonly_binds, spec.readonly_binds);
  EXPECT_EQ(back->limits.cpu_seconds, 17u);
}

TEST(SandboxSpec, RefusesRelativeOrTraversingBinds) {
  for (const char* bad : {"etc/passwd", "/etc/../root", ""}) {
    nlohmann::json json = SpecToJson(DefaultSpec(ProcessKind::kUnpacker));
    json["readonly_binds"] = {{{"source", bad}, {"target", "/etc/x"}}};
    EXPECT_FALSE(SpecFromJson(json)) << bad;
  }
  nlohmann::json escape = SpecToJson(DefaultSpec(ProcessKind::kUnpacker));
  escape["readonly_binds"] = {{{"source", "/etc/hosts"}, {"target", "/../etc"}}};
  EXPECT_FALSE(SpecFromJson(escape));
  nlohmann::json unknown = SpecToJson(DefaultSpec(ProcessKind::kUnpacker));
  unknown["kind"] = "shell";
  EXPECT_FALSE(SpecFromJson(unknown));
}

// The fetcher too: the broker's gate resolves and connects for it, so it sees no
// resolver file either, only the CA certificates.
TEST(SandboxSpec, NoHelperKeepsTheHostsNetwork) {
  EXPECT_TRUE(DefaultSpec(ProcessKind::kFetcher).new_network_namespace);
  for (const auto& bind : DefaultSpec(ProcessKind::kFetcher).readonly_binds) {
    EXPECT_TRUE(bind.source == "/etc/ssl/certs" || bind.source == "/usr/share/ca-certificates") << bind.source;
  }
  EXPECT_TRUE(DefaultSpec(ProcessKind::kUnpacker).new_network_namespace);
  EXPECT_TRUE(DefaultSpec(ProcessKind::kImager).new_network_namespace);
  EXPECT_TRUE(DefaultSpec(ProcessKind::kUnpacker).readonly_binds.empty());
  EXPECT_TRUE(DefaultSpec(ProcessKind::kImager).readonly_binds.empty());
}

TEST(SeccompPolicy, EveryRuleNamesARealSyscall) {
  for (ProcessKind kind : {ProcessKind::kFetcher, ProcessKind::kUnpacker, ProcessKind::kImager}) {
    for (const SyscallRule& rule : PolicyFor(kind)) {
      std::string name(rule.name);
      EXPECT_NE(seccomp_syscall_resolve_name(name.c_str()), __NR_SCMP_ERROR)
          << ProcessKindName(kind) << ": '" << name << "' is not a syscall (typo?)";
    }
  }
}

TEST(SeccompPolicy, JailedKindsNeverAllowFilesSocketsOrExec) {
  for (ProcessKind kind : {ProcessKind::kUnpacker, ProcessKind::kImager}) {
    for (const SyscallRule& rule : PolicyFor(kind)) {
      for (std::string_view forbidden : {"open", "openat", "openat2", "socket", "execve", "execveat", "ptrace",
                                         "fork", "vfork", "connect"}) {
        if (rule.name == forbidden) {
          EXPECT_EQ(rule.verdict, Verdict::kReport) << ProcessKindName(kind) << " " << forbidden;
        }
      }
    }
  }
}

// What is not allowed kills the whole process, and so does a syscall of another ABI.
TEST(SeccompPolicy, TheDefaultActionKillsTheProcess) {
  for (ProcessKind kind : {ProcessKind::kFetcher, ProcessKind::kUnpacker, ProcessKind::kImager}) {
    auto filter = BuildSeccompFilter(kind);
    ASSERT_TRUE(filter) << filter.error().message;
    uint32_t action = 0;
    ASSERT_EQ(seccomp_attr_get(filter->get(), SCMP_FLTATR_ACT_DEFAULT, &action), 0);
    EXPECT_EQ(action, SCMP_ACT_KILL_PROCESS) << ProcessKindName(kind);
    ASSERT_EQ(seccomp_attr_get(filter->get(), SCMP_FLTATR_ACT_BADARCH, &action), 0);
    EXPECT_EQ(action, SCMP_ACT_KILL_PROCESS) << ProcessKindName(kind);
  }
}

TEST(SeccompPolicy, ViolationMarkerIsParsed) {
#if defined(__x86_64__)
  constexpr const char* kOpenatNumber = "257";  // openat on x86-64 (asm/unistd_64.h)
#elif defined(__aarch64__)
  constexpr const char* kOpenatNumber = "56";   // openat on arm64 (asm-generic/unistd.h)
#endif
  std::string stderr_text = "some output\n" + std::string(kViolationMarker) + kOpenatNumber + "\n";
  auto name = FindViolationSyscall(stderr_text);
  ASSERT_TRUE(name);
  EXPECT_EQ(*name, "openat");
  EXPECT_FALSE(FindViolationSyscall("no marker here"));
  EXPECT_FALSE(FindViolationSyscall(std::string(kViolationMarker) + "x"));
}

}  // namespace
}  // namespace banger::security
