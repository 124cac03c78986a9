#include "broker/daemon/listener.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "broker/host/accounts.h"
#include "broker/host/trusted_paths.h"
#include "broker/store/files.h"

namespace banger::broker {
namespace {

constexpr int kFirstInheritedFd = 3;  // SD_LISTEN_FDS_START
constexpr int kBacklog = 128;

// A socket at `path` that nothing listens on is left over from a daemon that ended.
Result<void> RemoveStaleSocket(const std::string& path, const sockaddr_un& address) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return Error::FromErrno("lstat " + path);
  }
  if (!S_ISSOCK(st.st_mode)) {
    return Error{ErrorCode::kInvalidArgument, path + " exists and is not a socket; refusing to replace it"};
  }
  UniqueFd probe(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!probe) return Error::FromErrno("socket");
  if (::connect(probe.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0) {
    return Error{ErrorCode::kInvalidArgument, "another bangerd is listening on " + path};
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Error::FromErrno("unlink stale socket " + path);
  return {};
}

}  // namespace

Result<std::optional<UniqueFd>> InheritedListener(const std::string& listen_pid, const std::string& listen_fds) {
  if (listen_pid.empty() || listen_fds.empty()) return std::optional<UniqueFd>();
  if (listen_pid != std::to_string(::getpid())) return std::optional<UniqueFd>();  // meant for another process
  if (listen_fds != "1") {
    return Error{ErrorCode::kInvalidArgument, "bangerd takes one socket from the service manager, not LISTEN_FDS=" + listen_fds};
  }
  UniqueFd fd(kFirstInheritedFd);
  int type = 0, listening = 0;
  socklen_t length = sizeof(type);
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_TYPE, &type, &length) != 0) {
    return Error::FromErrno("getsockopt SO_TYPE on the socket the service manager passed (fd 3)");
  }
  length = sizeof(listening);
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) != 0) {
    return Error::FromErrno("getsockopt SO_ACCEPTCONN on fd 3");
  }
  if (type != SOCK_SEQPACKET || listening == 0) {
    return Error{ErrorCode::kInvalidArgument,
                 "the socket the service manager passed is not a listening SOCK_SEQPACKET socket "
                 "(ListenSequentialPacket= in banger.socket)"};
  }
  if (::fcntl(fd.get(), F_SETFD, FD_CLOEXEC) != 0) return Error::FromErrno("fcntl FD_CLOEXEC on fd 3");
  return std::optional<UniqueFd>(std::move(fd));
}

Result<UniqueFd> BindListener(const std::string& path, const std::string& group) {
  BANGER_ASSIGN_OR_RETURN(const sockaddr_un address, UnixSocketAddress(path, "bangerd's socket"));
  gid_t gid = 0;
  if (!group.empty()) {
    const std::optional<gid_t> found = GroupId(group);
    if (!found) return Error{ErrorCode::kNotFound, "socket_group '" + group + "' is not a group on this host"};
    gid = *found;
  }
  const std::string dir = DirectoryOf(path);
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return Error::FromErrno("mkdir " + dir);
  // Nobody but root may change the directory, so the path cannot be swapped between the
  // bind and the chown and chmod below.
  BANGER_TRY(CheckTrustedPath(dir, "the socket's directory"));
  BANGER_TRY(RemoveStaleSocket(path, address));
  UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!fd) return Error::FromErrno("socket for bangerd");
  // Bound with no permission at all, then opened to the group: no moment in which a user
  // outside it could connect.
  const mode_t old_mask = ::umask(0777);
  const int bound = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address));
  const int bind_errno = errno;
  ::umask(old_mask);
  if (bound != 0) return Error::FromErrno("bind " + path, bind_errno);
  if (::lchown(path.c_str(), 0, gid) != 0) return Error::FromErrno("lchown " + path);
  if (::chmod(path.c_str(), 0660) != 0) return Error::FromErrno("chmod 0660 " + path);
  if (::listen(fd.get(), kBacklog) != 0) return Error::FromErrno("listen on " + path);
  return fd;
}

}  // namespace banger::broker
