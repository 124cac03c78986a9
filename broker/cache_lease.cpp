#include "broker/cache_lease.h"

#include "broker/unpacked_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <random>
#include <set>

#include "base/digest.h"

namespace banger::broker {
namespace {

// flock on <oci>/lock for the scope.
class CacheLock {
 public:
  static Result<CacheLock> Take(const std::string& oci_dir, int operation) {
    BANGER_ASSIGN_OR_RETURN(UniqueFd fd, LockFile(oci_dir + "/lock", operation));
    return CacheLock(std::move(fd));
  }

 private:
  explicit CacheLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;  // closing it releases the lock
};

std::vector<std::string> ListDir(const std::string& dir) {
  auto names = ListDirectory(dir);
  return names ? std::move(*names) : std::vector<std::string>();
}

std::string RandomSuffix() {
  std::random_device device;
  const char* hex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 12; ++i) out += hex[device() % 16];
  return out;
}

}  // namespace

Result<std::unique_ptr<CacheLease>> CacheLease::Take(const std::string& oci_dir) {
  const std::string dir = oci_dir + "/leases";
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Error::FromErrno("creating " + dir);
  const std::string path = dir + "/" + std::to_string(::getpid()) + "-" + RandomSuffix();
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) return Error::FromErrno("creating " + path);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return Error::FromErrno("locking " + path);
  return std::unique_ptr<CacheLease>(new CacheLease(oci_dir, path, std::move(fd)));
}

CacheLease::~CacheLease() { ::unlink(path_.c_str()); }

Result<void> CacheLease::Hold(const std::vector<std::string>& digests) {
  BANGER_ASSIGN_OR_RETURN(CacheLock lock, CacheLock::Take(oci_dir_, LOCK_SH));
  std::string lines;
  for (const auto& d : digests) lines += d + "\n";
  if (::write(fd_.get(), lines.data(), lines.size()) != static_cast<ssize_t>(lines.size())) {
    return Error::FromErrno("writing " + path_);
  }
  return {};
}

Result<std::optional<UniqueFd>> TryClaimDownload(const std::string& oci_dir, const std::string& digest) {
  const std::string dir = oci_dir + "/downloads";
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Error::FromErrno("creating " + dir);
  const std::string path = dir + "/" + std::string(DigestHex(digest)) + ".lock";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return Error::FromErrno("opening " + path);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) return std::optional<UniqueFd>(std::move(fd));
  if (errno == EWOULDBLOCK) return std::optional<UniqueFd>();
  return Error::FromErrno("locking " + path);
}

Result<PruneReport> PruneCache(const std::string& oci_dir, bool dry_run) {
  PruneReport report;
  struct stat st;
  if (::stat(oci_dir.c_str(), &st) != 0) return report;  // nothing cached yet
  BANGER_ASSIGN_OR_RETURN(CacheLock lock, CacheLock::Take(oci_dir, LOCK_EX));
  std::set<std::string> held;
  const std::string leases = oci_dir + "/leases";
  for (const std::string& name : ListDir(leases)) {
    const std::string path = leases + "/" + name;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) continue;
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) {  // its pull is gone
      if (!dry_run) ::unlink(path.c_str());
      continue;
    }
    auto text = ReadWholeFd(fd.get(), 1 << 20, path);
    if (!text) return text.error();
    for (size_t start = 0; start < text->size();) {
      size_t end = text->find('\n', start);
      if (end == std::string::npos) end = text->size();
      held.insert(text->substr(start, end - start));
      start = end + 1;
    }
  }
  const std::string blobs = oci_dir + "/blobs/sha256";
  for (const std::string& hex : ListDir(blobs)) {
    const std::string path = blobs + "/" + hex;
    if (::lstat(path.c_str(), &st) != 0) continue;
    if (held.count("sha256:" + hex)) {
      ++report.kept_in_use;
      continue;
    }
    if (!dry_run && ::unlink(path.c_str()) != 0) return Error::FromErrno("removing " + path);
    report.bytes += static_cast<uint64_t>(st.st_size);
    ++report.blobs;
  }
  const UnpackedCache::Removed unpacked = UnpackedCache::RemoveAll(oci_dir, dry_run);
  report.bytes += unpacked.bytes;
  report.unpacked = unpacked.entries;
  // Remembered plans only spare a registry round trip; without their blobs they are moot.
  if (!dry_run) {
    for (const std::string& name : ListDir(oci_dir + "/plans")) ::unlink((oci_dir + "/plans/" + name).c_str());
  }
  return report;
}

}  // namespace banger::broker
