#include "broker/image_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/digest.h"
#include "base/json.h"
#include "ipc/channel.h"

namespace banger::broker {
namespace {

constexpr const char* kStagingSuffix = ".staging";
constexpr const char* kClaimSuffix = ".claim";

Result<void> FsyncPath(const std::string& path, int flags) {
  UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC));
  if (!fd || ::fsync(fd.get()) != 0) return Error::FromErrno("fsync " + path);
  return {};
}

std::string RandomId() {
  unsigned char bytes[8];
  if (::getrandom(bytes, sizeof bytes, 0) != sizeof bytes) {
    for (auto& b : bytes) b = static_cast<unsigned char>(std::rand());
  }
  return HexEncode(bytes, sizeof bytes);
}

}  // namespace

bool IsValidImageName(const std::string& name) {
  if (name.empty() || name.size() > 128 || !std::isalnum(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

Result<ImageStore> ImageStore::Open(const std::string& state_root) {
  if (state_root.empty() || state_root[0] != '/') {
    return Error{ErrorCode::kInvalidArgument, "state directory must be an absolute path: '" + state_root + "'"};
  }
  std::error_code ec;
  std::filesystem::create_directories(state_root + "/images", ec);
  if (ec) return Error{ErrorCode::kIo, "creating " + state_root + "/images: " + ec.message()};
  return ImageStore(state_root + "/images");
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
    std::ifstream in(images_dir_ + "/" + id + "/image.json");
    if (!in) continue;
    std::stringstream text;
    text << in.rdbuf();
    auto record = ParseJsonBounded(text.str(), 16);
    // A record without a string name is nobody's image (and would make value() throw).
    if (!record || !record->is_object() || !record->contains("name") || !(*record)["name"].is_string()) continue;
    images.push_back({id, images_dir_ + "/" + id, *record});
  }
  std::sort(images.begin(), images.end(), [](const StoredImage& a, const StoredImage& b) {
    return a.record.value("name", "") < b.record.value("name", "");
  });
  return images;
}

std::optional<StoredImage> ImageStore::FindByNameLocked(const std::string& name) const {
  for (auto& image : ListLocked()) {
    if (image.record.value("name", "") == name) return image;
  }
  return std::nullopt;
}

Result<ImageStore::Staging> ImageStore::BeginStaging() const {
  Staging staging;
  staging.id = RandomId();
  staging.dir = images_dir_ + "/" + staging.id + kStagingSuffix;
  // Made and locked under another name, so that another pull's RemoveStaleStaging never
  // sees it unlocked.
  const std::string claim = images_dir_ + "/" + staging.id + kClaimSuffix;
  if (::mkdir(claim.c_str(), 0755) != 0) return Error::FromErrno("creating " + claim);
  staging.lock.reset(::open((claim + "/.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!staging.lock || ::flock(staging.lock.get(), LOCK_EX | LOCK_NB) != 0) {
    return Error::FromErrno("locking " + claim);
  }
  if (::rename(claim.c_str(), staging.dir.c_str()) != 0) return Error::FromErrno("renaming " + claim);
  return staging;
}

Result<StoredImage> ImageStore::Publish(Staging& staging, nlohmann::json record, bool replace) const {
  record["id"] = staging.id;
  const std::string name = record.value("name", "");
  const std::string json_path = staging.dir + "/image.json";
  {
    UniqueFd out(::open(json_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!out) return Error::FromErrno("creating " + json_path);
    BANGER_TRY(PwriteAll(out.get(), DumpJson(record, 2) + "\n", 0, "writing " + json_path));
    if (::fsync(out.get()) != 0) return Error::FromErrno("fsync " + json_path);
  }
  BANGER_TRY(FsyncPath(staging.dir + "/rootfs.ext4", O_RDONLY));
  BANGER_TRY(FsyncPath(staging.dir, O_RDONLY | O_DIRECTORY));
  const std::string final_dir = images_dir_ + "/" + staging.id;
  std::string doomed;
  {
    // One name, one image: the check and the renames happen under one exclusive lock.
    BANGER_ASSIGN_OR_RETURN(UniqueFd lock, Lock(LOCK_EX));
    std::optional<StoredImage> holder = FindByNameLocked(name);
    if (holder && !replace) {
      return Error{ErrorCode::kInvalidArgument, "an image named '" + name + "' exists (--force replaces it)"};
    }
    // The staging lock goes only once the directory is no longer a staging one: without
    // it, another pull's RemoveStaleStaging would take the directory for stale.
    if (::rename(staging.dir.c_str(), final_dir.c_str()) != 0) return Error::FromErrno("publishing " + final_dir);
    // Not durably published unless the directory says so: undo rather than report an
    // error for an image that is there.
    if (auto synced = FsyncPath(images_dir_, O_RDONLY | O_DIRECTORY); !synced) {
      (void)::rename(final_dir.c_str(), staging.dir.c_str());
      return synced.error();
    }
    ::unlink((final_dir + "/.lock").c_str());
    staging.lock.reset();
    if (holder) {
      auto unpublished = Unpublish(*holder);
      if (unpublished) doomed = *unpublished;
    }
  }
  if (!doomed.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(doomed, ec);
  }
  return StoredImage{staging.id, final_dir, record};
}

Result<std::string> ImageStore::Unpublish(const StoredImage& image) const {
  const std::string doomed = images_dir_ + "/" + image.id + ".removing" + kStagingSuffix;
  if (::rename(image.dir.c_str(), doomed.c_str()) != 0) return Error::FromErrno("removing " + image.dir);
  (void)FsyncPath(images_dir_, O_RDONLY | O_DIRECTORY);
  return doomed;
}

Result<void> ImageStore::Remove(const StoredImage& image) const {
  std::string doomed;
  {
    BANGER_ASSIGN_OR_RETURN(UniqueFd lock, Lock(LOCK_EX));
    BANGER_ASSIGN_OR_RETURN(doomed, Unpublish(image));
  }
  std::error_code ec;
  std::filesystem::remove_all(doomed, ec);
  return {};
}

void ImageStore::Abandon(Staging& staging) const {
  std::error_code ec;
  std::filesystem::remove_all(staging.dir, ec);
  staging.lock.reset();
}

void ImageStore::RemoveStaleStaging() const {
  auto names = ListDirectory(images_dir_);
  if (!names) return;
  std::vector<std::string> stale;
  for (const std::string& name : *names) {
    if (!name.ends_with(kStagingSuffix) && !name.ends_with(kClaimSuffix)) continue;
    const std::string path = images_dir_ + "/" + name;
    if (name.ends_with(kClaimSuffix)) {
      // A staging directory before it is locked: live for microseconds, unless its pull died.
      struct stat st {};
      if (::stat(path.c_str(), &st) == 0 && ::time(nullptr) - st.st_mtime > 60) stale.push_back(path);
      continue;
    }
    UniqueFd lock(::open((path + "/.lock").c_str(), O_RDWR | O_CLOEXEC));
    // A lock nobody holds (or no lock at all) means the pull that made it is gone.
    if (!lock || ::flock(lock.get(), LOCK_EX | LOCK_NB) == 0) stale.push_back(path);
  }
  for (const auto& path : stale) {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
}

}  // namespace banger::broker
