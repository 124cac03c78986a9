// Published images under <state>/images/<id>/{rootfs.ext4,image.json}. A pull builds in
// <id>.staging/, fsyncs, and renames it into place, so nothing half-made is ever
// published (invariant I3); a staging dir whose pull died is removed by the next run.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "base/result.h"
#include "broker/user_dirs.h"

namespace banger::broker {


struct StoredImage {
  std::string id;
  std::string dir;
  nlohmann::json record;  // image.json
};

class ImageStore {
 public:
  static Result<ImageStore> Open(const std::string& state_root);

  // Read under the store's shared lock, so a replacement is never seen half done.
  std::vector<StoredImage> List() const;
  std::optional<StoredImage> FindByName(const std::string& name) const;

  // A fresh staging directory, locked while this process lives.
  struct Staging {
    std::string id;
    std::string dir;
    UniqueFd lock;
  };
  Result<Staging> BeginStaging() const;
  // Writes image.json, fsyncs everything, and renames staging into place, under the
  // store's lock, so one name is one image: if `record`'s name is taken by then, it fails
  // ("an image named X exists"), or with `replace` the other image is unpublished in the
  // same step and deleted after.
  Result<StoredImage> Publish(Staging& staging, nlohmann::json record, bool replace) const;
  void Abandon(Staging& staging) const;
  // Unpublishes first (a rename out of the images directory), then deletes.
  Result<void> Remove(const StoredImage& image) const;
  // Staging directories left by pulls that died.
  void RemoveStaleStaging() const;

  const std::string& images_dir() const { return images_dir_; }

 private:
  explicit ImageStore(std::string images_dir) : images_dir_(std::move(images_dir)) {}
  // flock on <state>/images.lock: shared to read the names, exclusive to change them.
  Result<UniqueFd> Lock(int operation) const;
  std::vector<StoredImage> ListLocked() const;
  std::optional<StoredImage> FindByNameLocked(const std::string& name) const;
  // Renames an image out of the images directory (it is no longer published); the
  // directory it now has, to delete.
  Result<std::string> Unpublish(const StoredImage& image) const;
  std::string images_dir_;
};

bool IsValidImageName(const std::string& name);

}  // namespace banger::broker
