// Hands the unpacker its image config and layers as soon as each can be read, so that
// unpacking overlaps the download: a cached blob at once, a downloading one as soon as
// its cache file starts to fill (the unpacker waits for bytes that have not arrived),
// whatever is left once the fetch is over. Reading a blob before the broker verified it
// is safe: the unpacker checks every layer's uncompressed bytes against its diff_id
// from the verified config, and a pull whose fetch fails publishes nothing. The
// unpacker only ever gets read-only views of the blobs (invariant I8).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/fd.h"
#include "base/result.h"
#include "broker/pull/fetch.h"
#include "ipc/unpack_protocol.h"
#include "security/spawn.h"

namespace banger::broker {

class LayerFeed {
 public:
  // Gives the unpacker once it is up (it may still be starting).
  using UnpackerSource = std::function<Result<security::SandboxedChild*>()>;
  // `request` is the unpack-begin body without its layers; `spool` (a write-only
  // descriptor of rootfs.ext4, for its data region) and the tree stream's write end go
  // with it.
  LayerFeed(const BlobCache& cache, UnpackerSource unpacker, ipc::UnpackRequest request, UniqueFd spool,
            UniqueFd tree_write);

  // The fetch's hooks (FetchOptions::on_plan, on_download_started, on_event).
  void OnPlan(const FetchedImage& image);
  void OnDownloadStarted(const std::string& digest, int file_fd);
  void OnEvent(const FetchEvent& event);

  // After a successful fetch: everything not sent yet, from the cache.
  Result<void> Finish(const FetchedImage& image);

 private:
  // Sends what can be sent now; the first failure is kept for Finish.
  void Pump();
  Result<void> SendReady();
  Result<void> SendBegin(security::SandboxedChild& unpacker);
  // The layer's fd, read-only, or nothing when it cannot be read yet.
  Result<std::optional<UniqueFd>> Readable(const FetchedBlob& layer, ipc::LayerHandOff& hand_off);

  const BlobCache& cache_;
  UnpackerSource unpacker_;
  ipc::UnpackRequest request_;
  UniqueFd spool_, tree_write_;
  std::optional<FetchedBlob> config_;
  std::vector<FetchedBlob> layers_;
  std::vector<bool> layer_sent_;
  bool begin_sent_ = false;
  std::set<std::string> complete_;               // in the cache, verified
  std::map<std::string, UniqueFd> downloading_;  // read-only views of filling cache files
  std::optional<Error> error_;
};

}  // namespace banger::broker
