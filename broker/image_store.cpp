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

#include "ipc/channel.h"
#include "ipc/digest.h"

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

std::vector<StoredImage> ImageStore::List() const {
  std::vector<StoredImage> images;
  DIR* dir = ::opendir(images_dir_.c_str());
  if (dir == nullptr) return images;
  while (dirent* e = ::readdir(dir)) {
    std::string id = e->d_name;
    if (id == "." || id == ".." || id.ends_with(kStagingSuffix)) continue;
    std::ifstream in(images_dir_ + "/" + id + "/image.json");
    if (!in) continue;
    std::stringstream text;
    text << in.rdbuf();
    auto record = ipc::ParseJsonBounded(text.str(), 16);
    if (!record || !record->is_object()) continue;
    images.push_back({id, images_dir_ + "/" + id, *record});
  }
  ::closedir(dir);
  std::sort(images.begin(), images.end(), [](const StoredImage& a, const StoredImage& b) {
    return a.record.value("name", "") < b.record.value("name", "");
  });
  return images;
}

std::optional<StoredImage> ImageStore::FindByName(const std::string& name) const {
  for (auto& image : List()) {
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

Result<StoredImage> ImageStore::Publish(Staging& staging, nlohmann::json record,
                                        const std::optional<StoredImage>& replace) const {
  record["id"] = staging.id;
  const std::string json_path = staging.dir + "/image.json";
  {
    std::ofstream out(json_path);
    out << record.dump(2) << "\n";
    if (!out) return Error{ErrorCode::kIo, "writing " + json_path};
  }
  BANGER_TRY(FsyncPath(json_path, O_RDONLY));
  BANGER_TRY(FsyncPath(staging.dir + "/rootfs.ext4", O_RDONLY));
  BANGER_TRY(FsyncPath(staging.dir, O_RDONLY | O_DIRECTORY));
  const std::string final_dir = images_dir_ + "/" + staging.id;
  // The lock goes only once the directory is no longer a staging one: without it, another
  // pull's RemoveStaleStaging would take the directory for stale.
  if (::rename(staging.dir.c_str(), final_dir.c_str()) != 0) return Error::FromErrno("publishing " + final_dir);
  ::unlink((final_dir + "/.lock").c_str());
  BANGER_TRY(FsyncPath(final_dir, O_RDONLY | O_DIRECTORY));
  BANGER_TRY(FsyncPath(images_dir_, O_RDONLY | O_DIRECTORY));
  staging.lock.reset();
  if (replace) {
    std::error_code ec;
    std::filesystem::remove_all(replace->dir, ec);
  }
  return StoredImage{staging.id, final_dir, record};
}

Result<void> ImageStore::Remove(const StoredImage& image) const {
  const std::string doomed = images_dir_ + "/" + image.id + ".removing" + kStagingSuffix;
  if (::rename(image.dir.c_str(), doomed.c_str()) != 0) return Error::FromErrno("removing " + image.dir);
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
  DIR* dir = ::opendir(images_dir_.c_str());
  if (dir == nullptr) return;
  std::vector<std::string> stale;
  while (dirent* e = ::readdir(dir)) {
    std::string name = e->d_name;
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
  ::closedir(dir);
  for (const auto& path : stale) {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
}

}  // namespace banger::broker
