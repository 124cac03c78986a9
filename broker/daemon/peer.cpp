#include "broker/daemon/peer.h"

#include <sys/socket.h>

#include <cerrno>

#include "base/fd.h"

namespace banger::broker {
namespace {

constexpr size_t kMaxPeerGroups = 65536;  // NGROUPS_MAX
constexpr size_t kMaxCommandBytes = 1024;

}  // namespace

Result<PeerCredentials> ReadPeerCredentials(int socket) {
  ucred credentials{};
  socklen_t length = sizeof(credentials);
  if (::getsockopt(socket, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0 || length != sizeof(credentials)) {
    return Error::FromErrno("getsockopt SO_PEERCRED on a client's connection");
  }
  PeerCredentials peer{credentials.uid, credentials.gid, credentials.pid, {}};
  std::vector<gid_t> groups(64);
  for (;;) {
    socklen_t bytes = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(socket, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &bytes) == 0) {
      groups.resize(bytes / sizeof(gid_t));
      break;
    }
    // ERANGE: the kernel wrote how much room it needs into `bytes`.
    if (errno != ERANGE || bytes / sizeof(gid_t) <= groups.size() || bytes / sizeof(gid_t) > kMaxPeerGroups) {
      return Error::FromErrno("getsockopt SO_PEERGROUPS on a client's connection");
    }
    groups.resize(bytes / sizeof(gid_t));
  }
  peer.groups = std::move(groups);
  // comm is the kernel's copy, read without touching the peer's memory.
  if (auto comm = ReadSmallFile("/proc/" + std::to_string(peer.pid) + "/comm", 64)) {
    peer.name = comm->substr(0, comm->find('\n'));
  }
  return peer;
}

std::string PeerCommandLine(pid_t pid) {
  auto text = ReadSmallFile("/proc/" + std::to_string(pid) + "/cmdline", 64 * 1024);
  if (!text) return "";
  std::string command = text->substr(0, kMaxCommandBytes);
  while (!command.empty() && command.back() == '\0') command.pop_back();
  for (char& c : command) {
    if (c == '\0') c = ' ';
  }
  return command;
}

}  // namespace banger::broker
