#include "broker/host/syslog.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "base/fd.h"

namespace banger::broker {

Result<void> SendToSyslog(const std::string& socket_path, const std::string& ident, const std::string& message) {
  BANGER_ASSIGN_OR_RETURN(const sockaddr_un to, UnixSocketAddress(socket_path, "the syslog socket"));
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return Error::FromErrno("socket(AF_UNIX) for syslog");
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  ::localtime_r(&now, &local);
  std::strftime(stamp, sizeof stamp, "%b %e %H:%M:%S", &local);
  const std::string line =
      "<" + std::to_string(kSyslogAuthprivInfo) + ">" + stamp + " " + ident + "[" + std::to_string(::getpid()) + "]: " + message;
  if (::sendto(fd.get(), line.data(), line.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&to), sizeof to) < 0) {
    const int error = errno;
    Error failed = Error::FromErrno("sendto " + socket_path, error);
    if (error == ENOENT) failed.code = ErrorCode::kNotFound;
    return failed;
  }
  return {};
}

}  // namespace banger::broker
