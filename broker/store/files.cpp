#include "broker/store/files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

namespace banger::broker {
std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

Result<void> MakeDirs(const std::string& path, mode_t mode) {
  for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string dir = path.substr(0, slash);
    if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST) return Error::FromErrno("mkdir " + dir);
    if (slash == std::string::npos) return {};
  }
}

Result<void> MakePrivateDirs(const std::string& path) {
  BANGER_TRY(MakeDirs(path, 0700));
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return Error::FromErrno("stat " + path);
  if (S_ISDIR(st.st_mode) && st.st_uid == ::geteuid() && (st.st_mode & 077) != 0 && ::chmod(path.c_str(), 0700) != 0) {
    return Error::FromErrno("chmod 0700 " + path);
  }
  return {};
}

Result<void> FsyncFd(int fd, const std::string& what) {
  if (::fsync(fd) != 0) return Error::FromErrno("fsync " + what);
  return {};
}

void StartWriteback(int fd, uint64_t offset, uint64_t length) {
  (void)::sync_file_range(fd, static_cast<off64_t>(offset), static_cast<off64_t>(length), SYNC_FILE_RANGE_WRITE);
}

Result<void> FsyncPath(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Error::FromErrno("opening " + path + " to fsync it");
  return FsyncFd(fd.get(), path);
}

Result<void> RenameDurably(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return Error::FromErrno("rename " + from + " to " + to);
  return FsyncPath(DirectoryOf(to));
}

Result<bool> LinkFdUnlessTaken(int fd, const std::string& path) {
  const std::string source = "/proc/self/fd/" + std::to_string(fd);
  if (::linkat(AT_FDCWD, source.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) == 0) return true;
  if (errno == EEXIST) return false;
  return Error::FromErrno("linkat " + path);
}

Result<void> LinkFd(int fd, const std::string& path) {
  BANGER_ASSIGN_OR_RETURN(bool linked, LinkFdUnlessTaken(fd, path));
  if (!linked) return Error{ErrorCode::kIo, "linkat " + path + ": File exists"};
  return {};
}

Result<UniqueFd> LockFile(const std::string& path, int operation) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return Error::FromErrno("opening " + path);
  int rc;
  do {
    rc = ::flock(fd.get(), operation);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return Error::FromErrno("flock " + path);
  return fd;
}

Result<std::optional<UniqueFd>> TryLockFile(const std::string& path, mode_t mode) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode));
  if (!fd) return Error::FromErrno("opening " + path);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) return std::optional<UniqueFd>(std::move(fd));
  if (errno == EWOULDBLOCK) return std::optional<UniqueFd>();
  return Error::FromErrno("flock " + path);
}

Result<void> ReplaceFileAtomically(const std::string& target, const AtomicFileOptions& options,
                                   const std::function<Result<void>(int fd)>& fill) {
  const std::string dir = DirectoryOf(target);
  UniqueFd fd(::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600));
  if (!fd) return Error::FromErrno("creating an unnamed file in " + dir + " (O_TMPFILE)");
  BANGER_TRY(fill(fd.get()));
  if (options.root_owned && ::fchown(fd.get(), 0, 0) != 0) return Error::FromErrno("fchown " + target);
  if (::fchmod(fd.get(), options.mode) != 0) return Error::FromErrno("fchmod " + target);
  BANGER_TRY(FsyncFd(fd.get(), target));
  if (!options.replace) {
    BANGER_ASSIGN_OR_RETURN(bool linked, LinkFdUnlessTaken(fd.get(), target));
    if (!linked) return Error{ErrorCode::kInvalidArgument, target + " exists"};
    return FsyncPath(dir);
  }
  // Linked in under a temporary name, then renamed over the target: never half a file.
  const std::string temp = target + ".banger-partial-" + std::to_string(::getpid());
  ::unlink(temp.c_str());
  BANGER_TRY(LinkFd(fd.get(), temp));
  if (auto renamed = RenameDurably(temp, target); !renamed) {
    ::unlink(temp.c_str());
    return renamed.error();
  }
  return {};
}

void RemoveTree(const std::string& path) {
  std::error_code ignored;
  std::filesystem::remove_all(path, ignored);
}

}  // namespace banger::broker
