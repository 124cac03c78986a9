// The OCI path of a pull, one named stage each (docs/architecture.md, "The data path of
// one pull"): outputs, helpers, fetch, unpack (or the unpacked cache), image, shutdown,
// publish. Each stage names the place a full disk filled; the staging directory is
// abandoned by its destructor on every way out but a publish.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "base/fd.h"
#include "base/reference.h"
#include "base/result.h"
#include "broker/pull/fetch.h"
#include "broker/pull/helper_start.h"
#include "broker/pull/layer_feed.h"
#include "broker/pull/pull.h"
#include "broker/store/unpacked_cache.h"
#include "ipc/image_protocol.h"
#include "ipc/unpack_protocol.h"

namespace banger::broker {

// $TMPDIR/banger-pull-XXXXXX, removed on every way out.
class ScratchDir {
 public:
  static Result<std::unique_ptr<ScratchDir>> Create(const std::string& root);
  ~ScratchDir();
  const std::string& path() const { return path_; }

 private:
  explicit ScratchDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

class OciPull {
 public:
  OciPull(const PullOptions& options, Reference ref, PullTarget target);
  Result<PullResult> Run();

 private:
  Result<void> PrepareOutputs();
  void StartHelpers();
  Result<void> Fetch();
  Result<void> WaitForHelpers();
  Result<void> Unpack();
  Result<void> UseUnpackedCache();
  Result<void> CopyFromCache();
  Result<void> BoundTheImagersFile();
  Result<void> Image();
  Result<void> Shutdown();
  Result<PullResult> Publish();

  Result<ipc::UnpackSummary> AwaitUnpackDone();
  Result<ipc::Message> AwaitImageDone(std::chrono::milliseconds bound);
  Result<void> StallForTests();
  Error UnpackFailed(Error error) const;
  Error ImageFailed(Error error) const;

  const PullOptions& options_;
  const Reference ref_;
  PullTarget target_;
  const HelperLauncher launcher_;
  const UnpackedCache unpacked_cache_;
  ipc::UnpackRequest unpack_request_;

  // outputs
  std::unique_ptr<ScratchDir> scratch_;
  UniqueFd tree_;
  bool cacheable_ = false;  // the tree is in the unpacked cache's directory
  std::string tree_dir_;    // where the tree is: the unpacked cache's directory, or scratch
  std::optional<Staging> staging_;
  UniqueFd rootfs_;
  // helpers (declared after the outputs, so they go first)
  std::unique_ptr<HelperStart> unpacker_start_, imager_start_;
  security::SandboxedChild* unpacker_ = nullptr;
  security::SandboxedChild* imager_ = nullptr;
  std::unique_ptr<LayerFeed> feed_;
  // what the stages found
  FetchedImage image_;
  std::string cache_key_;
  std::optional<UnpackedEntry> cached_;
  ipc::UnpackSummary unpacked_;
  UniqueFd tree_for_imager_;
  std::optional<FileIdentity> image_identity_;  // rootfs.ext4 once written, for the unpacked cache
  ipc::ImageSummary written_;
  std::map<std::string, uint64_t> peak_rss_;
};

}  // namespace banger::broker
