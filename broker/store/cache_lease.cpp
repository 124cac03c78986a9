#include "broker/store/cache_lease.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/digest.h"
#include "broker/store/files.h"

namespace banger::broker {
namespace {

std::string RandomSuffix() {
  unsigned char bytes[6];
  if (::getrandom(bytes, sizeof bytes, 0) != sizeof bytes) return std::to_string(::time(nullptr));
  return HexEncode(bytes, sizeof bytes);
}

Result<void> MakeDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Error::FromErrno("mkdir " + dir);
  return {};
}

}  // namespace

Result<std::unique_ptr<CacheLease>> CacheLease::Take(const CacheLayout& layout) {
  BANGER_TRY(MakeDir(layout.leases_dir()));
  // Locked before it has a name: a prune that lists the lease sees it held, never a free
  // lock it would take for a dead pull's.
  UniqueFd fd(::open(layout.leases_dir().c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!fd) return Error::FromErrno("creating a lease in " + layout.leases_dir() + " (O_TMPFILE)");
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return Error::FromErrno("flock a new lease");
  const std::string path = layout.leases_dir() + "/" + std::to_string(::getpid()) + "-" + RandomSuffix();
  BANGER_TRY(LinkFd(fd.get(), path));
  return std::unique_ptr<CacheLease>(new CacheLease(layout, path, std::move(fd)));
}

CacheLease::~CacheLease() { ::unlink(path_.c_str()); }

Result<void> CacheLease::Hold(const std::vector<std::string>& digests) {
  BANGER_ASSIGN_OR_RETURN(UniqueFd lock, LockFile(layout_.lock_path(), LOCK_SH));
  std::string lines;
  for (const auto& d : digests) lines += d + "\n";
  return WriteAll(fd_.get(), lines, "writing " + path_);
}

Result<std::vector<std::string>> HeldDigests(const CacheLayout& layout, bool dry_run) {
  std::vector<std::string> held;
  auto names = ListDirectory(layout.leases_dir());
  if (!names) return held;  // no pull ever took a lease
  for (const std::string& name : *names) {
    const std::string path = layout.leases_dir() + "/" + name;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) continue;
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) {  // its pull is gone
      if (!dry_run) ::unlink(path.c_str());
      continue;
    }
    BANGER_ASSIGN_OR_RETURN(std::string text, ReadWholeFd(fd.get(), 1 << 20, path));
    for (size_t start = 0; start < text.size();) {
      size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      held.push_back(text.substr(start, end - start));
      start = end + 1;
    }
  }
  return held;
}

Result<std::optional<UniqueFd>> TryClaimDownload(const CacheLayout& layout, const std::string& digest) {
  BANGER_TRY(MakeDir(layout.downloads_dir()));
  return TryLockFile(layout.DownloadLockPath(digest), 0600);
}

}  // namespace banger::broker
