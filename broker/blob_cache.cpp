#include "broker/blob_cache.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <vector>

#include "base/digest.h"
#include "base/sha256.h"

namespace banger::broker {
namespace {

Result<void> MakeDirs(const std::string& path, mode_t mode) {
  for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    std::string dir = path.substr(0, slash);
    if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST) return Error::FromErrno("creating " + dir);
    if (slash == std::string::npos) break;
  }
  return {};
}

Result<void> FsyncDir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd || ::fsync(fd.get()) != 0) return Error::FromErrno("fsync " + dir);
  return {};
}

}  // namespace

Result<BlobCache> BlobCache::Open(const std::string& cache_root) {
  if (cache_root.empty() || cache_root[0] != '/') {
    return Error{ErrorCode::kInvalidArgument, "cache directory must be an absolute path: '" + cache_root + "'"};
  }
  std::string blobs = cache_root + "/oci/blobs/sha256";
  BANGER_TRY(MakeDirs(blobs, 0755));
  return BlobCache(blobs);
}

std::string BlobCache::PathFor(const std::string& digest) const {
  return blobs_dir_ + "/" + std::string(DigestHex(digest));
}

std::optional<UniqueFd> BlobCache::OpenBlob(const std::string& digest, uint64_t size) const {
  if (!IsValidDigest(digest)) return std::nullopt;
  UniqueFd fd(::open(PathFor(digest).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) != size) {
    return std::nullopt;
  }
  return fd;
}

bool BlobCache::Contains(const std::string& digest, uint64_t size) const { return OpenBlob(digest, size).has_value(); }

Result<UniqueFd> BlobCache::CreateIncoming() const {
  UniqueFd fd(::open(blobs_dir_.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0644));
  if (!fd) return Error::FromErrno("creating an anonymous file in " + blobs_dir_ + " (needs O_TMPFILE support)");
  return fd;
}

Result<void> BlobCache::Commit(const UniqueFd& incoming, const std::string& digest, uint64_t size,
                               const std::string& what) const {
  BANGER_TRY(CheckDigest(digest, what));
  uint64_t actual_size = 0;
  BANGER_ASSIGN_OR_RETURN(std::string actual, Sha256OfFd(incoming.get(), &actual_size));
  if (actual_size != size) {
    return Error{ErrorCode::kMalformed, what + " " + digest + ": got " + std::to_string(actual_size) +
                                            " bytes, expected " + std::to_string(size)};
  }
  if (actual != digest) {
    return Error{ErrorCode::kMalformed, what + " " + digest + ": digest mismatch, the bytes hash to " + actual};
  }
  if (::fsync(incoming.get()) != 0) return Error::FromErrno("fsync " + what + " " + digest);
  const std::string proc_path = "/proc/self/fd/" + std::to_string(incoming.get());
  const std::string final_path = PathFor(digest);
  if (::linkat(AT_FDCWD, proc_path.c_str(), AT_FDCWD, final_path.c_str(), AT_SYMLINK_FOLLOW) != 0) {
    if (errno != EEXIST) return Error::FromErrno("linking " + what + " " + digest + " into the cache");
    // Another pull linked the same verified bytes first; a wrong-size leftover is replaced.
    if (!Contains(digest, size)) {
      const std::string temp = final_path + ".replace." + std::to_string(::getpid());
      ::unlink(temp.c_str());
      if (::linkat(AT_FDCWD, proc_path.c_str(), AT_FDCWD, temp.c_str(), AT_SYMLINK_FOLLOW) != 0 ||
          ::rename(temp.c_str(), final_path.c_str()) != 0) {
        ::unlink(temp.c_str());
        return Error::FromErrno("replacing " + what + " " + digest + " in the cache");
      }
    }
  }
  return FsyncDir(blobs_dir_);
}

}  // namespace banger::broker
