// banger-vsock-agent, agent mode: the health protocol over a unix socket and tcp
// loopback, the sandbox it puts itself in, the vsock wait, and the binary being static
// enough to run alone in an empty chroot (docs/guest.md).
#include <elf.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <netinet/in.h>
#include <poll.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "banger_version.h"
#include "tests/support/test_support.h"

namespace banger::testing {
namespace {

using nlohmann::json;

const std::string kAgent = std::string(BANGER_BIN_DIR) + "/banger-vsock-agent";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string FirstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

// The value of a "Name:\tvalue" line of /proc/PID/status.
std::string StatusField(pid_t pid, const std::string& name) {
  std::istringstream status(ReadFile("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with(name + ":")) return line.substr(line.find_first_not_of(" \t", name.size() + 1));
  }
  return "";
}

// A connected stream socket (unix path, or tcp port on 127.0.0.1) with a 10 s receive timeout.
int Connect(const std::string& unix_path, int tcp_port = 0) {
  int fd = -1;
  int rc = -1;
  if (tcp_port == 0) {
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, unix_path.c_str(), sizeof addr.sun_path - 1);
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  } else {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(tcp_port));
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  }
  if (rc != 0) {
    ::close(fd);
    return -1;
  }
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return fd;
}

// Everything the peer sends until it closes (or resets, or 10 s pass).
std::string ReadToEnd(int fd) {
  std::string out;
  char buffer[4096];
  ssize_t n;
  while ((n = ::recv(fd, buffer, sizeof buffer, 0)) > 0) out.append(buffer, static_cast<size_t>(n));
  return out;
}

struct Reply {
  std::string raw;
  int status = 0;
  std::string head;
  std::string body;
};

Reply Parse(std::string raw) {
  Reply reply;
  reply.raw = std::move(raw);
  const size_t end = reply.raw.find("\r\n\r\n");
  if (!reply.raw.starts_with("HTTP/1.0 ") || end == std::string::npos) return reply;
  reply.status = std::stoi(reply.raw.substr(9, 3));
  reply.head = reply.raw.substr(0, end);
  reply.body = reply.raw.substr(end + 4);
  return reply;
}

// A running agent, its stderr in a file; killed when the object goes.
class Agent {
 public:
  // `command` is the agent invocation (binary and arguments).
  Agent(const std::string& command, const std::string& log) : process_(command, log) {}
  // Waits for the "listening on" line, which the agent writes once sandboxed.
  bool WaitListening() {
    return WaitFor([this] { return process_.Output().find("listening on") != std::string::npos || process_.Wait(0) >= 0; },
                   10000) &&
           process_.Output().find("listening on") != std::string::npos;
  }
  pid_t pid() const { return process_.pid(); }
  std::string Output() const { return process_.Output(); }
  BackgroundCommand& process() { return process_; }

 private:
  BackgroundCommand process_;
};

class AgentProtocol : public ::testing::Test {
 protected:
  void SetUp() override {
    socket_ = dir_.path() + "/agent.sock";
    agent_ = std::make_unique<Agent>(kAgent + " --listen unix:" + socket_, dir_.path() + "/agent.log");
    ASSERT_TRUE(agent_->WaitListening()) << agent_->Output();
  }
  Reply Exchange(const std::string& request) {
    const int fd = Connect(socket_);
    if (fd < 0) return {};
    ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    Reply reply = Parse(ReadToEnd(fd));
    ::close(fd);
    return reply;
  }
  void ExpectHealthy() {
    const Reply reply = Exchange("GET /healthz HTTP/1.0\r\n\r\n");
    EXPECT_EQ(reply.status, 200) << reply.raw << "\nagent log:\n" << agent_->Output();
  }

  ScratchDir dir_{"banger-agent"};
  std::string socket_;
  std::unique_ptr<Agent> agent_;
};

TEST_F(AgentProtocol, HealthzReportsUptimeBootIdAndVersion) {
  const double before = std::stod(ReadFile("/proc/uptime"));
  const Reply reply = Exchange("GET /healthz HTTP/1.1\r\nHost: guest\r\nUser-Agent: test\r\n\r\n");
  const double after = std::stod(ReadFile("/proc/uptime"));
  ASSERT_EQ(reply.status, 200) << reply.raw;
  EXPECT_EQ(FirstLine(reply.raw), "HTTP/1.0 200 OK\r");
  EXPECT_NE(reply.head.find("\r\nContent-Type: application/json"), std::string::npos) << reply.head;
  EXPECT_NE(reply.head.find("\r\nContent-Length: " + std::to_string(reply.body.size())), std::string::npos) << reply.head;
  const json body = json::parse(reply.body);
  EXPECT_EQ(body["status"], "ok");
  ASSERT_TRUE(body["uptime_seconds"].is_number()) << body;
  EXPECT_GE(body["uptime_seconds"].get<double>(), before - 0.01);
  EXPECT_LE(body["uptime_seconds"].get<double>(), after + 0.01);
  EXPECT_EQ(body["boot_id"], FirstLine(ReadFile("/proc/sys/kernel/random/boot_id")));
  EXPECT_EQ(body["version"], BANGER_VERSION);
  // A query string does not change the path; bare LF line ends are accepted.
  EXPECT_EQ(Exchange("GET /healthz?verbose=1 HTTP/1.0\n\n").status, 200);
}

TEST_F(AgentProtocol, UnknownPathIs404) {
  for (const std::string request : {"GET / HTTP/1.0\r\n\r\n", "GET /healthz/x HTTP/1.1\r\n\r\n", "POST /metrics HTTP/1.0\r\n\r\n"}) {
    const Reply reply = Exchange(request);
    EXPECT_EQ(reply.status, 404) << request << reply.raw;
    EXPECT_EQ(json::parse(reply.body)["error"], "Not Found");
  }
}

TEST_F(AgentProtocol, OtherMethodsAre405) {
  for (const std::string method : {"POST", "PUT", "DELETE", "HEAD", "OPTIONS"}) {
    const Reply reply = Exchange(method + " /healthz HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(reply.status, 405) << method << "\n" << reply.raw;
    EXPECT_NE(reply.head.find("\r\nAllow: GET"), std::string::npos) << reply.head;
  }
}

TEST_F(AgentProtocol, MalformedRequestLineIs400) {
  for (const std::string request : {"garbage\r\n\r\n", "GET /healthz\r\n\r\n", "GET  /healthz HTTP/1.0\r\n\r\n",
                                    "GET healthz HTTP/1.0\r\n\r\n", "GET /healthz SPDY/3\r\n\r\n", "\r\n\r\n"}) {
    EXPECT_EQ(Exchange(request).status, 400) << request;
  }
  ExpectHealthy();
}

TEST_F(AgentProtocol, OversizedRequestIsDroppedAndServingGoesOn) {
  const std::string request = "GET /healthz HTTP/1.0\r\nX-Padding: " + std::string(9000, 'a') + "\r\n\r\n";
  const Reply reply = Exchange(request);
  EXPECT_TRUE(reply.raw.empty()) << "an oversized request got an answer: " << reply.raw.substr(0, 200);
  // Just under the bound is still answered.
  EXPECT_EQ(Exchange("GET /healthz HTTP/1.0\r\nX-Padding: " + std::string(8000, 'a') + "\r\n\r\n").status, 200);
  ExpectHealthy();
}

TEST_F(AgentProtocol, RequestInPiecesIsAnswered) {
  const int fd = Connect(socket_);
  ASSERT_GE(fd, 0);
  for (char c : std::string("GET /healthz HTTP/1.0\r\n\r\n")) {
    ASSERT_EQ(::send(fd, &c, 1, MSG_NOSIGNAL), 1);
    ::usleep(2000);
  }
  EXPECT_EQ(Parse(ReadToEnd(fd)).status, 200);
  ::close(fd);
}

// The behaviour, not its timing: a client that never finishes its request keeps its
// connection while others are served, and is then dropped without an answer.
TEST_F(AgentProtocol, SlowClientIsDroppedWithoutBlockingOthers) {
  const int idle = Connect(socket_);
  ASSERT_GE(idle, 0);
  ASSERT_EQ(::send(idle, "GET /hea", 8, MSG_NOSIGNAL), 8);
  // Others are served while the slow one holds its connection.
  ExpectHealthy();
  pollfd still{idle, POLLIN, 0};
  ASSERT_EQ(::poll(&still, 1, 0), 0) << "the half-sent request was dropped (or answered) at once";
  // Then the agent drops it; the receive timeout only keeps a broken agent from hanging the test.
  const timeval patience{120, 0};
  ASSERT_EQ(::setsockopt(idle, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience), 0);
  char byte;
  const ssize_t got = ::recv(idle, &byte, 1, 0);
  const int err = errno;
  ::close(idle);
  EXPECT_EQ(got, 0) << "the agent closed the connection without a byte of answer: "
                    << (got < 0 ? std::strerror(err) : "it answered");
  ExpectHealthy();
}

TEST_F(AgentProtocol, BadClientsDoNotStopIt) {
  // Hang up mid-request; reset the connection (SO_LINGER 0); connect and say nothing.
  int fd = Connect(socket_);
  ASSERT_GE(fd, 0);
  ::send(fd, "GET /heal", 9, MSG_NOSIGNAL);
  ::close(fd);
  fd = Connect(socket_);
  ASSERT_GE(fd, 0);
  ::send(fd, "GET /healthz HTTP/1.0\r\n\r\n", 25, MSG_NOSIGNAL);
  const linger reset{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  ::close(fd);
  for (int i = 0; i < 20; ++i) {
    fd = Connect(socket_);
    if (fd >= 0) ::close(fd);
  }
  ExpectHealthy();
  EXPECT_EQ(agent_->process().Wait(0), -1) << "the agent exited:\n" << agent_->Output();
}

TEST_F(AgentProtocol, RunsSandboxed) {
  EXPECT_EQ(StatusField(agent_->pid(), "NoNewPrivs"), "1");
  EXPECT_EQ(StatusField(agent_->pid(), "Seccomp"), "2");
  if (::geteuid() == 0) {
    EXPECT_EQ(StatusField(agent_->pid(), "Uid"), "65534\t65534\t65534\t65534");
    EXPECT_EQ(StatusField(agent_->pid(), "Gid"), "65534\t65534\t65534\t65534");
    EXPECT_EQ(StatusField(agent_->pid(), "CapEff"), "0000000000000000");
    EXPECT_EQ(StatusField(agent_->pid(), "CapPrm"), "0000000000000000");
  }
  EXPECT_NE(agent_->Output().find("sandboxed: no_new_privs, seccomp"), std::string::npos) << agent_->Output();
  ExpectHealthy();
}

TEST(AgentTcp, ServesOnLoopbackWithAKernelChosenPort) {
  ScratchDir dir("banger-agent");
  Agent agent(kAgent + " --listen tcp:127.0.0.1:0", dir.path() + "/agent.log");
  ASSERT_TRUE(agent.WaitListening()) << agent.Output();
  const std::string log = agent.Output();
  const size_t at = log.find("listening on tcp:127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << log;
  const int port = std::stoi(log.substr(at + std::strlen("listening on tcp:127.0.0.1:")));
  ASSERT_GT(port, 0);
  const int fd = Connect("", port);
  ASSERT_GE(fd, 0);
  ::send(fd, "GET /healthz HTTP/1.0\r\n\r\n", 25, MSG_NOSIGNAL);
  EXPECT_EQ(Parse(ReadToEnd(fd)).status, 200);
  ::close(fd);
}

TEST(AgentVsock, ListensOnTheRequestedPort) {
  const int probe = ::socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
  // vsock is a property of the machine; CI's has it, so there the test must run.
  if (probe < 0) BANGER_CANNOT_RUN("no AF_VSOCK on this machine: " << std::strerror(errno));
  ScratchDir dir("banger-agent");
  const unsigned port = 20000 + static_cast<unsigned>(::getpid()) % 20000;
  Agent agent(kAgent + " --listen vsock:" + std::to_string(port), dir.path() + "/agent.log");
  const bool listening = agent.WaitListening();
  const std::string log = agent.Output();
  if (!listening && log.find("vsock is not available yet") != std::string::npos) {
    ::close(probe);
    BANGER_CANNOT_RUN("the vsock address family exists but no transport: " << log);
  }
  ASSERT_TRUE(listening) << log;
  EXPECT_NE(log.find("listening on vsock:" + std::to_string(port)), std::string::npos) << log;
  sockaddr_vm addr{};
  addr.svm_family = AF_VSOCK;
  addr.svm_cid = VMADDR_CID_ANY;
  addr.svm_port = port;
  EXPECT_NE(::bind(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << "the port is not taken";
  EXPECT_EQ(errno, EADDRINUSE);
  ::close(probe);
}

// With socket(AF_VSOCK) failing as on a guest whose vsock module is not loaded yet, the
// agent says so once and keeps retrying instead of exiting.
TEST(AgentVsock, WaitsWhileVsockIsMissing) {
  ScratchDir dir("banger-agent");
  scmp_filter_ctx ctx = ::seccomp_init(SCMP_ACT_ALLOW);
  ASSERT_NE(ctx, nullptr);
  ASSERT_EQ(::seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, AF_VSOCK)), 0);
  const std::string log = dir.path() + "/agent.log";
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ::dup2(out, 2);
    ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (::seccomp_load(ctx) != 0) ::_exit(126);
    ::execl(kAgent.c_str(), "banger-vsock-agent", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::seccomp_release(ctx);
  ASSERT_GT(pid, 0);
  ::usleep(3500 * 1000);  // past the first retry
  int status = 0;
  const bool still_running = ::waitpid(pid, &status, WNOHANG) == 0;
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  const std::string output = ReadFile(log);
  EXPECT_TRUE(still_running) << output;
  const std::string wait_line = "banger-vsock-agent: vsock is not available yet (socket(AF_VSOCK): Address family not supported";
  ASSERT_NE(output.find(wait_line), std::string::npos) << output;
  EXPECT_EQ(output.find(wait_line), output.rfind(wait_line)) << "logged more than once:\n" << output;
}

TEST(AgentBinary, IsStatic) {
  const CommandResult file = RunCommand("file -L " + kAgent);
  ASSERT_EQ(file.exit_status, 0) << file.output;
  EXPECT_NE(file.output.find("statically linked"), std::string::npos) << file.output;
  // And by the ELF headers: no interpreter, no dynamic section.
  const std::string elf = ReadFile(kAgent);
  ASSERT_GE(elf.size(), sizeof(Elf64_Ehdr));
  Elf64_Ehdr header;
  std::memcpy(&header, elf.data(), sizeof header);
  ASSERT_EQ(std::memcmp(header.e_ident, ELFMAG, SELFMAG), 0);
  ASSERT_EQ(header.e_ident[EI_CLASS], ELFCLASS64);
  for (unsigned i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr program;
    ASSERT_LE(header.e_phoff + (i + 1) * sizeof program, elf.size());
    std::memcpy(&program, elf.data() + header.e_phoff + i * sizeof program, sizeof program);
    EXPECT_NE(program.p_type, static_cast<Elf64_Word>(PT_INTERP)) << "the agent asks for a dynamic loader";
    EXPECT_NE(program.p_type, static_cast<Elf64_Word>(PT_DYNAMIC)) << "the agent has a dynamic section";
  }
}

TEST(AgentBinary, VersionHelpAndBadArgumentsTellTheTruth) {
  CommandResult result = RunCommand(kAgent + " --version");
  EXPECT_EQ(result.exit_status, 0);
  EXPECT_EQ(result.output, "banger-vsock-agent " BANGER_VERSION "\n");
  result = RunCommand(kAgent + " --help");
  EXPECT_EQ(result.exit_status, 0);
  for (const char* needle : {"vsock:10789", "GET /healthz", "unix:PATH", "tcp:IPV4:PORT", "banger.ip=ADDR/PREFIX",
                             "banger.gw=GW", "banger.dns=", "banger.hostname=NAME", "banger.iface=NAME", "--cmdline", "--etc"}) {
    EXPECT_NE(result.output.find(needle), std::string::npos) << needle;
  }
  result = RunCommand(kAgent + " --frobnicate");
  EXPECT_EQ(result.exit_status, 2);
  EXPECT_EQ(result.output, "banger-vsock-agent: error: unknown argument '--frobnicate' (try --help)\n");
  result = RunCommand(kAgent + " --listen vsock:lots");
  EXPECT_EQ(result.exit_status, 2);
  EXPECT_NE(result.output.find("banger-vsock-agent: error: --listen: bad vsock port"), std::string::npos) << result.output;
  result = RunCommand(kAgent + " --listen udp:1");
  EXPECT_EQ(result.exit_status, 2);
  EXPECT_NE(result.output.find("banger-vsock-agent: error: --listen: expected"), std::string::npos) << result.output;
}

// The binary alone in an otherwise empty directory: no loader, no libraries, no /proc.
class AgentChroot : public ::testing::Test {
 protected:
  void SetUp() override {
    BANGER_REQUIRE_ROOT();
    CopyExecutable(kAgent, root_.path());
  }
  ScratchDir root_{"banger-agent-chroot"};
};

TEST_F(AgentChroot, VersionRuns) {
  const CommandResult result = RunCommand("chroot " + root_.path() + " /banger-vsock-agent --version");
  EXPECT_EQ(result.exit_status, 0) << result.output;
  EXPECT_EQ(result.output, "banger-vsock-agent " BANGER_VERSION "\n");
}

// Without /proc the uptime comes from CLOCK_BOOTTIME (what /proc/uptime shows) and the
// boot id is null; the agent still answers, sandboxed.
TEST_F(AgentChroot, ServesHealthzWithoutProc) {
  ScratchDir logs("banger-agent-log");
  Agent agent("chroot " + root_.path() + " /banger-vsock-agent --listen unix:/agent.sock", logs.path() + "/agent.log");
  ASSERT_TRUE(agent.WaitListening()) << agent.Output();
  const std::string output = agent.Output();
  EXPECT_NE(output.find("note: /proc/uptime: No such file or directory; uptime_seconds comes from CLOCK_BOOTTIME"),
            std::string::npos) << output;
  EXPECT_NE(output.find("boot_id is null"), std::string::npos) << output;

  const double before = std::stod(ReadFile("/proc/uptime"));
  const int fd = Connect(root_.path() + "/agent.sock");
  ASSERT_GE(fd, 0);
  ::send(fd, "GET /healthz HTTP/1.0\r\n\r\n", 25, MSG_NOSIGNAL);
  const Reply reply = Parse(ReadToEnd(fd));
  ::close(fd);
  const double after = std::stod(ReadFile("/proc/uptime"));
  ASSERT_EQ(reply.status, 200) << reply.raw;
  const json body = json::parse(reply.body);
  EXPECT_EQ(body["status"], "ok");
  ASSERT_TRUE(body["uptime_seconds"].is_number()) << body;
  EXPECT_GE(body["uptime_seconds"].get<double>(), before - 0.02);
  EXPECT_LE(body["uptime_seconds"].get<double>(), after + 0.02);
  EXPECT_TRUE(body["boot_id"].is_null()) << body;
  EXPECT_EQ(StatusField(agent.pid(), "NoNewPrivs"), "1");
  EXPECT_EQ(StatusField(agent.pid(), "Seccomp"), "2");
}

}  // namespace
}  // namespace banger::testing
