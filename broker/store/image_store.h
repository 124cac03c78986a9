// Published images under <state>/images/<id>/{rootfs.ext4,image.json}. A pull builds in
// <id>.staging/, which is abandoned (removed) unless Publish consumes it: Publish fsyncs,
// writes image.json and renames it into place, so nothing half-made is ever published
// (invariant I3); a staging directory whose pull died is removed by the next run.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "base/result.h"

namespace banger::broker {

struct StoredImage {
  std::string id;
  std::string dir;
  nlohmann::json record;  // image.json
  std::string rootfs() const { return dir + "/rootfs.ext4"; }
};

// A pull's staging directory, locked while it lives, removed when it goes unless
// ImageStore::Publish consumed it.
class Staging {
 public:
  Staging(Staging&& other) noexcept;
  Staging& operator=(Staging&&) = delete;
  Staging(const Staging&) = delete;
  ~Staging();

  const std::string& id() const { return id_; }
  const std::string& dir() const { return dir_; }
  // Creates <staging>/rootfs.ext4 (0644, read-write) for the imager or the bundle.
  Result<UniqueFd> CreateRootfs() const;

 private:
  friend class ImageStore;
  Staging(std::string id, std::string dir, UniqueFd lock) : id_(std::move(id)), dir_(std::move(dir)), lock_(std::move(lock)) {}
  std::string id_, dir_;
  UniqueFd lock_;  // flock on <staging>/.lock, so no other pull takes it for stale
};

struct Published {
  StoredImage image;
  // Set when the image is in place but its directory entry may not survive a crash (the
  // images directory's fsync failed after the rename): the pull reports it, and the image
  // stays published.
  std::optional<std::string> warning;
};

// What a tenant's store may hold, checked when an image is published, under the store's
// lock, so concurrent pulls cannot each pass and together go over. Unset: no bound.
struct StoreQuota {
  std::optional<uint64_t> max_images;
  std::optional<uint64_t> max_bytes;  // of the images' files on disk
  std::string owner;                  // who holds the store, for the message
};

class ImageStore {
 public:
  // How a directory is made durable; tests replace it to make that fail.
  using SyncDirectory = std::function<Result<void>(const std::string& dir)>;

  static Result<ImageStore> Open(const std::string& state_root, SyncDirectory sync = nullptr);
  // The same store for reading (list, inspect, rm): nothing is created, and a state
  // directory that does not exist yet holds no image.
  static Result<ImageStore> OpenForReading(const std::string& state_root);

  // Read under the store's shared lock, so a replacement is never seen half done.
  std::vector<StoredImage> List() const;
  std::optional<StoredImage> FindByName(const std::string& name) const;

  Result<Staging> BeginStaging() const;
  // Writes image.json, fsyncs everything, and renames the staging directory into place
  // under the store's lock, so one name is one image: if `record`'s name is taken by
  // then, it fails ("an image named X exists"), or with `replace` the other image is
  // unpublished in the same step and deleted after. `staging` is consumed either way.
  Result<Published> Publish(Staging&& staging, nlohmann::json record, bool replace) const;
  // Unpublishes first (a rename out of the images directory), then deletes.
  Result<void> Remove(const StoredImage& image) const;
  // Staging directories left by pulls that died, and images unpublished by a removal or a
  // replacement a crash cut short (a replaced image comes back if its replacement is gone).
  void RemoveStaleStaging() const;

  const std::string& images_dir() const { return images_dir_; }
  void HoldTo(StoreQuota quota) { quota_ = std::move(quota); }

 private:
  ImageStore(std::string images_dir, SyncDirectory sync) : images_dir_(std::move(images_dir)), sync_(std::move(sync)) {}
  // flock on <state>/images.lock: shared to read the names, exclusive to change them.
  Result<UniqueFd> Lock(int operation) const;
  std::vector<StoredImage> ListLocked() const;
  std::optional<StoredImage> FindByNameLocked(const std::string& name) const;
  Result<void> WriteRecord(const Staging& staging, const nlohmann::json& record) const;
  // Renames an image out of the images directory (it is no longer published) to its id
  // and `suffix`; the directory it now has, to delete.
  Result<std::string> Unpublish(const StoredImage& image, const char* suffix) const;
  void SettleReplaced(const std::string& name) const;
  // The quota, with `staging` published and `replaced` (if any) gone.
  Result<void> CheckQuotaLocked(const Staging& staging, const std::optional<StoredImage>& replaced) const;

  std::string images_dir_;
  SyncDirectory sync_;
  StoreQuota quota_;
};

bool IsValidImageName(const std::string& name);

}  // namespace banger::broker
