#include "broker/store/image_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>

#include "base/digest.h"
#include "base/json.h"
#include "base/text.h"
#include "broker/store/files.h"

namespace banger::broker {
namespace {

constexpr const char* kStagingSuffix = ".staging";
// An image unpublished by `image rm` (deleted at once, or by the next sweep), and one
// unpublished by a replacing pull (which the sweep restores if its replacement is gone).
constexpr const char* kRemovingSuffix = ".removing.staging";
constexpr const char* kReplacedSuffix = ".replaced.staging";
constexpr const char* kClaimSuffix = ".claim";
constexpr uint64_t kMaxImageRecordBytes = 1 << 20;
// A claim directory lives for microseconds before it is locked, unless its pull died.
constexpr time_t kStaleClaimSeconds = 60;

Result<std::string> RandomId() {
  unsigned char bytes[8];
  if (::getrandom(bytes, sizeof bytes, 0) != sizeof bytes) return Error::FromErrno("getrandom");
  return HexEncode(bytes, sizeof bytes);
}

std::optional<nlohmann::json> ReadRecord(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return std::nullopt;
  auto text = ReadWholeFd(fd.get(), kMaxImageRecordBytes, path);
  if (!text) return std::nullopt;
  auto record = ParseJsonBounded(*text, 16);
  // A record without a string name is nobody's image.
  if (!record || !record->is_object() || !record->contains("name") || !(*record)["name"].is_string()) {
    return std::nullopt;
  }
  return std::move(*record);
}

}  // namespace

bool IsValidImageName(const std::string& name) {
  if (name.empty() || name.size() > 128 || !std::isalnum(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

Staging::Staging(Staging&& other) noexcept
    : id_(std::move(other.id_)), dir_(std::exchange(other.dir_, "")), lock_(std::move(other.lock_)) {}

Staging::~Staging() {
  if (!dir_.empty()) RemoveTree(dir_);  // removed while still locked: no one takes it meanwhile
}

Result<UniqueFd> Staging::CreateRootfs() const {
  const std::string path = dir_ + "/rootfs.ext4";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return Error::FromErrno("creating " + path);
  return fd;
}

Result<ImageStore> ImageStore::Open(const std::string& state_root, SyncDirectory sync) {
  if (state_root.empty() || state_root[0] != '/') {
    return Error{ErrorCode::kInvalidArgument, "state directory must be an absolute path: '" + state_root + "'"};
  }
  BANGER_TRY(MakePrivateDirs(state_root + "/images"));
  if (!sync) sync = FsyncPath;
  return ImageStore(state_root + "/images", std::move(sync));
}

Result<ImageStore> ImageStore::OpenForReading(const std::string& state_root) {
  if (state_root.empty() || state_root[0] != '/') {
    return Error{ErrorCode::kInvalidArgument, "state directory must be an absolute path: '" + state_root + "'"};
  }
  return ImageStore(state_root + "/images", FsyncPath);
}

// Beside the images directory, which then holds nothing but images and their staging.
Result<UniqueFd> ImageStore::Lock(int operation) const { return LockFile(images_dir_ + ".lock", operation); }

std::vector<StoredImage> ImageStore::List() const {
  auto lock = Lock(LOCK_SH);  // without it (a read-only store), a list may catch a replacement midway
  return ListLocked();
}

std::optional<StoredImage> ImageStore::FindByName(const std::string& name) const {
  auto lock = Lock(LOCK_SH);
  return FindByNameLocked(name);
}

std::vector<StoredImage> ImageStore::ListLocked() const {
  std::vector<StoredImage> images;
  auto names = ListDirectory(images_dir_);
  if (!names) return images;
  for (const std::string& id : *names) {
    if (id[0] == '.' || id.ends_with(kStagingSuffix) || id.ends_with(kClaimSuffix)) continue;
    if (auto record = ReadRecord(images_dir_ + "/" + id + "/image.json")) {
      images.push_back({id, images_dir_ + "/" + id, std::move(*record)});
    }
  }
  std::sort(images.begin(), images.end(), [](const StoredImage& a, const StoredImage& b) {
    return a.record["name"].get_ref<const std::string&>() < b.record["name"].get_ref<const std::string&>();
  });
  return images;
}

std::optional<StoredImage> ImageStore::FindByNameLocked(const std::string& name) const {
  for (auto& image : ListLocked()) {
    if (image.record["name"] == name) return image;
  }
  return std::nullopt;
}

Result<Staging> ImageStore::BeginStaging() const {
  BANGER_ASSIGN_OR_RETURN(std::string id, RandomId());
  // Made and locked under another name, so that another pull's RemoveStaleStaging never
  // sees it unlocked.
  const std::string claim = images_dir_ + "/" + id + kClaimSuffix;
  if (::mkdir(claim.c_str(), 0700) != 0) return Error::FromErrno("mkdir " + claim);
  auto lock = TryLockFile(claim + "/.lock", 0600);
  if (!lock || !*lock) {
    RemoveTree(claim);
    return lock ? Error{ErrorCode::kIo, "flock " + claim + "/.lock: held by another process"} : lock.error();
  }
  const std::string dir = images_dir_ + "/" + id + kStagingSuffix;
  if (::rename(claim.c_str(), dir.c_str()) != 0) {
    Error error = Error::FromErrno("rename " + claim);
    RemoveTree(claim);
    return error;
  }
  return Staging(id, dir, std::move(**lock));
}

Result<void> ImageStore::WriteRecord(const Staging& staging, const nlohmann::json& record) const {
  const std::string path = staging.dir() + "/image.json";
  UniqueFd out(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!out) return Error::FromErrno("creating " + path);
  BANGER_TRY(WriteAll(out.get(), DumpJson(record, 2) + "\n", "writing " + path));
  BANGER_TRY(FsyncFd(out.get(), path));
  BANGER_TRY(FsyncPath(staging.dir() + "/rootfs.ext4"));
  return FsyncPath(staging.dir());
}

Result<Published> ImageStore::Publish(Staging&& consumed, nlohmann::json record, bool replace) const {
  Staging staging = std::move(consumed);  // abandoned on every return before the rename
  record["id"] = staging.id();
  const std::string name = record.value("name", "");
  BANGER_TRY(WriteRecord(staging, record));
  const std::string final_dir = images_dir_ + "/" + staging.id();
  Published published{StoredImage{staging.id(), final_dir, record}, std::nullopt};
  std::string doomed;
  {
    // One name, one image: the check and the renames happen under one exclusive lock.
    BANGER_ASSIGN_OR_RETURN(UniqueFd lock, Lock(LOCK_EX));
    std::optional<StoredImage> holder = FindByNameLocked(name);
    if (holder && !replace) {
      return Error{ErrorCode::kInvalidArgument, "an image named '" + name + "' exists (--force replaces it)"};
    }
    BANGER_TRY(CheckQuotaLocked(staging, holder));
    // The staging lock goes only once the directory is no longer a staging one: without
    // it, another pull's RemoveStaleStaging would take the directory for stale.
    if (::rename(staging.dir().c_str(), final_dir.c_str()) != 0) return Error::FromErrno("publishing " + final_dir);
    staging.dir_.clear();  // published: nothing to abandon any more
    ::unlink((final_dir + "/.lock").c_str());
    if (auto synced = sync_(images_dir_); !synced) {
      published.warning = "image " + name + " is published, but " + synced.error().message +
                          ": it may be missing after a crash";
    }
    if (holder) {
      auto unpublished = Unpublish(*holder, kReplacedSuffix);
      if (unpublished) doomed = *unpublished;
    }
  }
  // Unless the images directory is known to be durable, the replaced image stays on disk
  // (renamed away, no longer listed) for the next run's sweep, which brings it back if a
  // crash lost its replacement: a crash must not lose both.
  if (!doomed.empty() && !published.warning) RemoveTree(doomed);
  return published;
}

Result<void> ImageStore::CheckQuotaLocked(const Staging& staging, const std::optional<StoredImage>& replaced) const {
  if (!quota_.max_images && !quota_.max_bytes) return {};
  uint64_t images = 1, bytes = AllocatedBytes(staging.dir() + "/rootfs.ext4");
  for (const StoredImage& image : ListLocked()) {
    if (replaced && image.id == replaced->id) continue;
    ++images;
    bytes += AllocatedBytes(image.rootfs());
  }
  if (quota_.max_images && images > *quota_.max_images) {
    return Error{ErrorCode::kInvalidArgument, quota_.owner + " would hold " + std::to_string(images) +
                                                   " images with this one, more than the " +
                                                   std::to_string(*quota_.max_images) +
                                                   " tenant_max_images allows; remove one first"};
  }
  if (quota_.max_bytes && bytes > *quota_.max_bytes) {
    return Error{ErrorCode::kInvalidArgument, quota_.owner + "'s images would hold " + HumanBytes(bytes) +
                                                   " with this one, more than the " + HumanBytes(*quota_.max_bytes) +
                                                   " tenant_max_bytes allows; remove an image first"};
  }
  return {};
}

Result<std::string> ImageStore::Unpublish(const StoredImage& image, const char* suffix) const {
  const std::string doomed = images_dir_ + "/" + image.id + suffix;
  if (::rename(image.dir.c_str(), doomed.c_str()) != 0) return Error::FromErrno("removing " + image.dir);
  (void)sync_(images_dir_);
  return doomed;
}

Result<void> ImageStore::Remove(const StoredImage& image) const {
  std::string doomed;
  {
    BANGER_ASSIGN_OR_RETURN(UniqueFd lock, Lock(LOCK_EX));
    BANGER_ASSIGN_OR_RETURN(doomed, Unpublish(image, kRemovingSuffix));
  }
  RemoveTree(doomed);
  return {};
}

void ImageStore::RemoveStaleStaging() const {
  auto names = ListDirectory(images_dir_);
  if (!names) return;
  for (const std::string& name : *names) {
    const std::string path = images_dir_ + "/" + name;
    if (name.ends_with(kReplacedSuffix)) {
      SettleReplaced(name);
    } else if (name.ends_with(kClaimSuffix)) {
      struct stat st {};
      if (::stat(path.c_str(), &st) == 0 && ::time(nullptr) - st.st_mtime > kStaleClaimSeconds) RemoveTree(path);
    } else if (name.ends_with(kStagingSuffix)) {
      // A lock nobody holds (or no lock at all) means the pull that made it is gone.
      UniqueFd lock(::open((path + "/.lock").c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
      if (!lock || ::flock(lock.get(), LOCK_EX | LOCK_NB) == 0) RemoveTree(path);
    }
  }
}

// A replaced image: deleted when its name is published again, restored when not (the
// replacing image's rename was lost, or removed since).
void ImageStore::SettleReplaced(const std::string& name) const {
  auto lock = Lock(LOCK_EX);
  if (!lock) return;
  const std::string path = images_dir_ + "/" + name;
  auto record = ReadRecord(path + "/image.json");
  if (!record || FindByNameLocked((*record)["name"].get<std::string>())) {
    RemoveTree(path);
    return;
  }
  const std::string id = name.substr(0, name.size() - std::string_view(kReplacedSuffix).size());
  if (::rename(path.c_str(), (images_dir_ + "/" + id).c_str()) == 0) (void)sync_(images_dir_);
}

}  // namespace banger::broker
