#include "broker/store/blob_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/digest.h"
#include "base/sha256.h"
#include "broker/store/files.h"

namespace banger::broker {

Result<BlobCache> BlobCache::Open(const std::string& cache_root) {
  BANGER_ASSIGN_OR_RETURN(CacheLayout layout, CacheLayout::Open(cache_root));
  return BlobCache(std::move(layout));
}

std::optional<UniqueFd> BlobCache::OpenBlob(const std::string& digest, uint64_t size) const {
  if (!IsValidDigest(digest)) return std::nullopt;
  UniqueFd fd(::open(layout_.BlobPath(digest).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) != size) {
    return std::nullopt;
  }
  return fd;
}

bool BlobCache::Contains(const std::string& digest, uint64_t size) const { return OpenBlob(digest, size).has_value(); }

Result<UniqueFd> BlobCache::CreateIncoming() const {
  const std::string dir = layout_.blobs_dir();
  UniqueFd fd(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0644));
  if (!fd) return Error::FromErrno("creating an anonymous file in " + dir + " (needs O_TMPFILE support)");
  return fd;
}

Result<void> BlobCache::Commit(const UniqueFd& incoming, const std::string& digest, uint64_t size,
                               const std::string& what) const {
  BANGER_TRY(CheckDigest(digest, what));
  // The size first: a file grown past it (sparse, a helper's doing) is refused before a
  // byte of it is hashed.
  struct stat st {};
  if (::fstat(incoming.get(), &st) != 0) return Error::FromErrno("stat " + what + " " + digest);
  uint64_t actual_size = static_cast<uint64_t>(st.st_size);
  std::string actual;
  if (actual_size == size) {
    BANGER_ASSIGN_OR_RETURN(actual, Sha256OfFd(incoming.get(), &actual_size));
  }
  if (actual_size != size) {
    return Error{ErrorCode::kMalformed, what + " " + digest + ": got " + std::to_string(actual_size) +
                                            " bytes, expected " + std::to_string(size)};
  }
  if (actual != digest) {
    return Error{ErrorCode::kMalformed, what + " " + digest + ": digest mismatch, the bytes hash to " + actual};
  }
  BANGER_TRY(FsyncFd(incoming.get(), what + " " + digest));
  const std::string final_path = layout_.BlobPath(digest);
  auto linked = LinkFdUnlessTaken(incoming.get(), final_path);
  if (!linked) return linked.error().Wrap("caching " + what + " " + digest);
  if (!*linked) {
    // Another pull linked the same verified bytes first; a wrong-size leftover is replaced.
    if (!Contains(digest, size)) {
      const std::string temp = final_path + ".replace." + std::to_string(::getpid());
      ::unlink(temp.c_str());
      auto replaced = LinkFd(incoming.get(), temp);
      if (replaced) replaced = RenameDurably(temp, final_path);
      if (!replaced) {
        ::unlink(temp.c_str());
        return replaced.error().Wrap("replacing " + what + " " + digest + " in the cache");
      }
    }
  }
  return FsyncPath(layout_.blobs_dir());
}

}  // namespace banger::broker
