#include "broker/store/blob_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "base/digest.h"
#include "base/sha256.h"
#include "broker/store/files.h"

namespace banger::broker {
namespace {

// Landed bytes are hashed in runs of this size, while still in the page cache.
constexpr uint64_t kHashChunk = 4 << 20;
// At most this much per ReceiveFrom, so a sender that keeps the pipe full cannot keep the
// broker from everything else it watches.
constexpr uint64_t kMaxReceive = 4 << 20;

}  // namespace

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

Result<void> BlobCache::MarkShared(const std::vector<std::string>& digests) const {
  const std::string dir = layout_.shared_dir();
  BANGER_TRY(MakeDirs(dir, 0700));
  for (const std::string& digest : digests) {
    BANGER_TRY(CheckDigest(digest, "blob"));
    const std::string path = dir + "/" + std::string(DigestHex(digest));
    UniqueFd marker(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!marker) return Error::FromErrno("marking " + digest + " as shared (" + path + ")");
  }
  return {};
}

bool BlobCache::Shared(const std::string& digest) const {
  if (!CheckDigest(digest, "blob")) return false;
  const std::string path = layout_.shared_dir() + "/" + std::string(DigestHex(digest));
  return ::access(path.c_str(), F_OK) == 0;
}

Result<IncomingBlob> BlobCache::Begin(const std::string& digest, uint64_t size, const std::string& what) const {
  BANGER_TRY(CheckDigest(digest, what));
  const std::string dir = layout_.blobs_dir();
  UniqueFd fd(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!fd) return Error::FromErrno("creating an anonymous file in " + dir + " (needs O_TMPFILE support)");
  return IncomingBlob(*this, std::move(fd), digest, size, what);
}

Result<void> IncomingBlob::Landed(uint64_t bytes) {
  received_ += bytes;
  if (received_ > size_) {
    return Error{ErrorCode::kMalformed, what_ + " " + digest_ + ": more than the " + std::to_string(size_) +
                                            " bytes its descriptor declares arrived"};
  }
  return HashLanded(kHashChunk);
}

// Hashes what landed since the last time once at least `at_least` bytes are waiting,
// while they are still in the page cache.
Result<void> IncomingBlob::HashLanded(uint64_t at_least) {
  if (received_ - hashed_ < at_least || received_ == hashed_) return {};
  BANGER_TRY(hash_.UpdateFromFile(file_.get(), hashed_, received_ - hashed_, what_ + " " + digest_));
  hashed_ = received_;
  // Written back as it lands: Commit's fsync of a large blob would otherwise hold the
  // disk for tens of milliseconds while the unpacker writes the image. Whole pages only,
  // so that the next splice never waits on a page under writeback (stable pages).
  static const uint64_t kPageBytes = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t whole_pages = received_ / kPageBytes * kPageBytes;
  if (whole_pages > written_back_) {
    StartWriteback(file_.get(), written_back_, whole_pages - written_back_);
    written_back_ = whole_pages;
  }
  return {};
}

Result<void> IncomingBlob::Append(std::string_view bytes) {
  BANGER_TRY(PwriteAll(file_.get(), bytes, received_, "writing " + what_ + " " + digest_ + " into the cache"));
  return Landed(bytes.size());
}

Result<Spliced> IncomingBlob::ReceiveFrom(int pipe) {
  // One byte more than is missing: a sender that goes past the size is caught at once.
  const uint64_t missing = size_ - std::min(received_, size_);
  const size_t room = static_cast<size_t>(std::min<uint64_t>(missing, kMaxReceive - 1) + 1);
  BANGER_ASSIGN_OR_RETURN(Spliced moved, SpliceFromPipe(pipe, file_.get(), received_, room,
                                                        "writing " + what_ + " " + digest_ + " into the cache"));
  BANGER_TRY(Landed(moved.bytes));
  return moved;
}

Result<void> IncomingBlob::Commit() {
  if (received_ != size_) {
    return Error{ErrorCode::kMalformed, what_ + " " + digest_ + ": got " + std::to_string(received_) +
                                            " bytes, expected " + std::to_string(size_)};
  }
  BANGER_TRY(HashLanded(1));
  const std::string actual = Sha256Digest(hash_.Finish());
  if (actual != digest_) {
    return Error{ErrorCode::kMalformed, what_ + " " + digest_ + ": digest mismatch, the bytes hash to " + actual};
  }
  return cache_->Link(file_.get(), digest_, size_, what_);
}

Result<void> BlobCache::Link(int file, const std::string& digest, uint64_t size, const std::string& what) const {
  BANGER_TRY(FsyncFd(file, what + " " + digest));
  const std::string final_path = layout_.BlobPath(digest);
  auto linked = LinkFdUnlessTaken(file, final_path);
  if (!linked) return linked.error().Wrap("caching " + what + " " + digest);
  if (!*linked) {
    // Another pull linked the same verified bytes first; a wrong-size leftover is replaced.
    if (!Contains(digest, size)) {
      const std::string temp = final_path + ".replace." + std::to_string(::getpid());
      ::unlink(temp.c_str());
      auto replaced = LinkFd(file, temp);
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
