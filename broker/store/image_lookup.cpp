#include "broker/store/image_lookup.h"

#include <vector>

#include "base/json.h"
#include "base/reference.h"

namespace banger::broker {
namespace {

std::string NameOf(const StoredImage& image) { return StringField(image.record, "name"); }

// `wanted` as pulled (the same tag, or the same digest: the one pulled, which may be an
// index's, or the platform manifest's the image was made from).
bool PulledFrom(const StoredImage& image, const Reference& wanted) {
  auto recorded = ParseReference(StringField(image.record, "ref"));
  if (!recorded || recorded->registry != wanted.registry || recorded->repository != wanted.repository) return false;
  if (!wanted.digest.empty()) {
    return recorded->digest == wanted.digest || StringField(image.record, "manifest_digest") == wanted.digest;
  }
  return recorded->digest.empty() && recorded->tag == wanted.tag;
}

// One image of `matches`, or an error naming `what` and, when several match, each of them.
Result<StoredImage> OnlyOne(std::vector<StoredImage> matches, const std::string& what, const std::string& as) {
  if (matches.size() == 1) return std::move(matches[0]);
  if (matches.empty()) return Error{ErrorCode::kNotFound, "no image named '" + what + "'"};
  std::string names;
  for (const StoredImage& image : matches) names += (names.empty() ? "" : ", ") + NameOf(image) + " (" + image.id + ")";
  return Error{ErrorCode::kInvalidArgument, "'" + what + "' is " + as + " of " + std::to_string(matches.size()) +
                                                " images: " + names + "; name one of them"};
}

}  // namespace

Result<StoredImage> FindImage(const ImageStore& store, const std::string& what) {
  if (what.empty()) return Error{ErrorCode::kInvalidArgument, "an image is named by a non-empty name, ID or reference"};
  const std::vector<StoredImage> images = store.List();
  for (const StoredImage& image : images) {
    if (NameOf(image) == what || image.id == what) return image;
  }
  if (auto ref = ParseReference(what)) {
    std::vector<StoredImage> pulled;
    for (const StoredImage& image : images) {
      if (PulledFrom(image, *ref)) pulled.push_back(image);
    }
    if (!pulled.empty()) return OnlyOne(std::move(pulled), what, "the reference");
  }
  std::vector<StoredImage> prefixed;
  for (const StoredImage& image : images) {
    if (image.id.rfind(what, 0) == 0) prefixed.push_back(image);
  }
  return OnlyOne(std::move(prefixed), what, "an ID prefix");
}

}  // namespace banger::broker
