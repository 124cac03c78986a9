// banger-sandbox-probe ACTION: a test helper that locks down exactly like the real
// helpers (with whatever kind's policy the broker sends), then on each kPing performs
// ACTION and answers kPong {"action", "errno"} — unless the sandbox kills it first.
#include <signal.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <linux/falloc.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <string>
#include <memory>
#include <thread>
#include <vector>

#include "security/helper_session.h"
#include "security/spawn.h"

namespace {

using banger::Result;
namespace ipc = banger::ipc;

// Returns the errno the action ended with (0 = it succeeded), or never returns.
int Perform(const std::string& action) {
  errno = 0;
  if (action == "idle") return 0;
  if (action == "open") return ::open("/etc/passwd", O_RDONLY) < 0 ? errno : 0;
  if (action == "socket") return ::socket(AF_INET, SOCK_STREAM, 0) < 0 ? errno : 0;
  if (action == "socket_unix") return ::socket(AF_UNIX, SOCK_STREAM, 0) < 0 ? errno : 0;
  if (action == "socket_sock_diag") return ::socket(AF_NETLINK, SOCK_RAW, NETLINK_SOCK_DIAG) < 0 ? errno : 0;
  if (action == "socket_route") return ::socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE) < 0 ? errno : 0;
  // What would have the kernel signal another process of the helper's uid.
  // The fetcher's sockets come from the broker, connected: it may connect or bind none.
  if (action == "connect" || action == "disconnect" || action == "bind" || action == "sendto_fastopen") {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(1);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const auto* address = reinterpret_cast<const sockaddr*>(&to);
    if (action == "connect") {  // 0 from connect, but still nothing at the other end
      if (::connect(fd, address, sizeof to) != 0) return errno;
      sockaddr_in peer{};
      socklen_t size = sizeof peer;
      return ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &size) < 0 ? errno : 0;
    }
    if (action == "disconnect") {
      const sockaddr unspecified{AF_UNSPEC, {}};
      return ::connect(fd, &unspecified, sizeof unspecified) < 0 ? errno : 0;
    }
    if (action == "bind") return ::bind(fd, address, sizeof to) < 0 ? errno : 0;
    return ::sendto(fd, "x", 1, MSG_FASTOPEN, address, sizeof to) < 0 ? errno : 0;
  }
  // Room allocated past the end of a file without growing it escapes RLIMIT_FSIZE.
  if (action == "fallocate_keep_size") return ::fallocate(0, FALLOC_FL_KEEP_SIZE, 0, 1 << 20) < 0 ? errno : 0;
  // Copies between two descriptors inside the kernel: the imager writes metadata only.
  if (action == "copy_file_range") return ::copy_file_range(0, nullptr, 0, nullptr, 4096, 0) < 0 ? errno : 0;
  if (action == "sync_file_range") return ::sync_file_range(0, 0, 4096, SYNC_FILE_RANGE_WRITE) < 0 ? errno : 0;
  if (action == "fcntl_setown") return ::fcntl(banger::security::kChannelFd, F_SETOWN, 1) < 0 ? errno : 0;
  if (action == "fcntl_setsig") return ::fcntl(banger::security::kChannelFd, F_SETSIG, SIGKILL) < 0 ? errno : 0;
  if (action == "fcntl_async") return ::fcntl(banger::security::kChannelFd, F_SETFL, O_ASYNC) < 0 ? errno : 0;
  if (action == "fcntl_lease") return ::fcntl(0, F_SETLEASE, F_RDLCK) < 0 ? errno : 0;
  if (action == "fcntl_nonblock") {
    const int flags = ::fcntl(0, F_GETFL);
    return flags < 0 || ::fcntl(0, F_SETFL, flags | O_NONBLOCK) < 0 ? errno : 0;
  }
  if (action == "execve") {
    char* const argv[] = {const_cast<char*>("/bin/true"), nullptr};
    ::execve("/bin/true", argv, nullptr);
    return errno;
  }
  if (action == "ptrace") return ::ptrace(PTRACE_ATTACH, ::getppid(), nullptr, nullptr) < 0 ? errno : 0;
  if (action == "unlisted-syscall") return ::syscall(SYS_getcwd, nullptr, 0) < 0 ? errno : 0;
  if (action == "thread") {
    int value = 0;
    std::thread worker([&value] { value = 7; });
    worker.join();
    return value == 7 ? 0 : EIO;
  }
  // A worker thread that grows its heap and frees it all again: glibc trims the heap,
  // which must not need anything the sandbox forbids (helper_session.cpp).
  if (action == "thread-heap") {
    bool freed = false;
    std::thread worker([&freed] {
      std::vector<std::unique_ptr<char[]>> chunks;
      for (int i = 0; i < 20000; ++i) chunks.emplace_back(new char[1024]);
      for (auto& chunk : chunks) chunk[0] = 1;
      while (!chunks.empty()) chunks.pop_back();
      freed = true;
    });
    worker.join();
    return freed ? 0 : EIO;
  }
  if (action == "abort") std::abort();
  // PID 1 of a namespace of its own, whose parent (the broker) is outside it.
  if (action == "pids") return ::getpid() == 1 && ::getppid() == 0 ? 0 : ESRCH;
  if (action == "map-2GiB") {
    void* p = ::mmap(nullptr, size_t{2} << 30, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? errno : 0;
  }
  if (action == "write-past-fsize") {
    ::signal(SIGXFSZ, SIG_IGN);
    char byte = 'x';
    // fd 4 is the file the test passed; the spec limits files to 1 MiB.
    return ::pwrite(banger::security::kFirstPassedFd, &byte, 1, 2 << 20) < 0 ? errno : 0;
  }
  // A helper may lower its file size limit (the broker has it do so) but never raise it.
  if (action == "raise-fsize") {
    rlimit limit{};
    if (::getrlimit(RLIMIT_FSIZE, &limit) != 0) return errno;
    limit.rlim_max = RLIM_INFINITY;
    limit.rlim_cur = RLIM_INFINITY;
    return ::setrlimit(RLIMIT_FSIZE, &limit) < 0 ? errno : 0;
  }
  if (action == "exhaust-fds") {
    for (int i = 0; i < 4096; ++i) {
      if (::dup(0) < 0) return errno;
    }
    return 0;
  }
  if (action == "garbage") {
    // A well-formed header of a type nobody declared.
    return ::write(banger::security::kChannelFd, "\x99\x99\x99\x99\0\0\0\0", 8) < 0 ? errno : 0;
  }
  if (action == "burn-cpu") {
    volatile unsigned long spin = 0;
    for (;;) spin = spin + 1;
  }
  return EINVAL;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string action = argc > 1 ? argv[1] : "idle";
  auto session = banger::security::HelperSession::Begin("banger-sandbox-probe", std::nullopt);
  if (!session) return banger::security::ReportStartupFailure("banger-sandbox-probe", session.error());
  if (auto locked = session->LockDown(); !locked) return session->Fail(locked.error());
  for (;;) {
    auto message = session->channel().Receive();
    if (!message) return session->Fail(message.error());
    if (message->type == ipc::MessageType::kShutdown) return 0;
    if (message->type != ipc::MessageType::kPing) return 1;
    int err = Perform(action);
    auto sent = session->channel().Send(
        ipc::Message::WithJson(ipc::MessageType::kPong, {{"action", action}, {"errno", err}}));
    if (!sent) return 1;
  }
}
