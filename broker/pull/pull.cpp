#include "broker/pull/pull.h"

#include "base/json.h"

#include <ctime>

#include "broker/pull/catalog_pull.h"
#include "broker/pull/pull_stages.h"
#include "broker/pull/url_download.h"

namespace banger::broker {

Error WhereFull(Error error, const std::string& dir, const std::string& what) {
  if (error.code != ErrorCode::kNoSpace) return error;
  return Error{ErrorCode::kNoSpace, "no space left in " + dir + " while writing " + what + " (" + error.message + ")"};
}

std::string UtcNow() {
  char text[32];
  std::time_t t = std::time(nullptr);
  std::tm utc {};
  ::gmtime_r(&t, &utc);
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

void ReportPhase(const PullOptions& options, const std::string& phase, const std::string& text,
                 const nlohmann::json& detail) {
  if (options.observer != nullptr) options.observer->Phase(phase, text, detail);
}

// A name another image holds. When it came from another reference, --force would
// replace that image, so the hint is --name.
Error NameTaken(const StoredImage& existing, const std::string& name, const std::string& reference) {
  const std::string from = StringField(existing.record, "ref");
  const auto theirs = ParseReference(from);
  const auto ours = ParseReference(reference);
  if (theirs && ours && theirs->String() == ours->String()) {
    return Error{ErrorCode::kInvalidArgument,
                 "an image named '" + name + "' was pulled from " + from + " already (--force pulls it again)"};
  }
  return Error{ErrorCode::kInvalidArgument, "an image named '" + name + "' exists, pulled from " +
                                                (from.empty() ? "elsewhere" : from) + "; give " + reference +
                                                " another name with --name (--force would replace that image)"};
}

Result<PullTarget> OpenPullTarget(const std::string& name, const PullOptions& options) {
  if (!IsValidImageName(name)) {
    return Error{ErrorCode::kInvalidArgument, "invalid image name '" + name + "': letters, digits, '.', '_' and '-'"};
  }
  BANGER_ASSIGN_OR_RETURN(ImageStore store, ImageStore::Open(options.state_root));
  store.HoldTo(options.quota);
  store.RemoveStaleStaging();
  // Checked again when the image is published, under the store's lock.
  if (std::optional<StoredImage> existing; !options.force && (existing = store.FindByName(name))) {
    return NameTaken(*existing, name, options.reference);
  }
  BANGER_ASSIGN_OR_RETURN(BlobCache cache, BlobCache::Open(options.cache_root));
  return PullTarget{name, std::move(store), std::move(cache)};
}

Result<PullResult> PullImage(const PullOptions& options) {
  // A catalog name takes the bundle fast path, and never falls through to a registry.
  const HelperLauncher launcher(options.helpers);
  auto catalog = LoadCatalog(options.catalog, [&launcher](const std::string& url, uint64_t max_bytes) {
    return ReadUrl(launcher, url, max_bytes);
  });
  if (!catalog && LooksLikeCatalogName(options.reference)) {
    return Error{catalog.error().code, catalog.error().message + "; '" + options.reference +
                                           "' may be a catalog image, so it is not looked up in a registry (a full "
                                           "reference such as docker.io/library/" + options.reference + " would be)"};
  }
  if (catalog) {
    if (const CatalogEntry* entry = catalog->Find(options.reference)) return PullFromCatalog(*entry, *catalog, options);
  }
  BANGER_ASSIGN_OR_RETURN(Reference ref, ParseReference(options.reference));
  const std::string name = options.name.empty() ? ref.DefaultImageName() : options.name;
  if (options.name.empty() && !IsValidImageName(name)) {
    return Error{ErrorCode::kInvalidArgument, "the name " + ref.String() + " gives an image by default ('" + name +
                                                  "') is longer than 128 characters, the most an image name may have: give it one with --name"};
  }
  BANGER_ASSIGN_OR_RETURN(PullTarget target, OpenPullTarget(name, options));
  OciPull pull(options, std::move(ref), std::move(target));
  return pull.Run();
}

}  // namespace banger::broker
