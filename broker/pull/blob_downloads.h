// The downloads of one fetch: at most `parallel_downloads` blobs at once through one
// fetcher, each into an unnamed cache file that the broker hashes and links in when the
// fetcher says it is done. A blob another banger is downloading waits for that one.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "base/fd.h"
#include "base/result.h"
#include "broker/pull/fetch.h"
#include "security/spawn.h"

namespace banger::broker {

class BlobDownloads {
 public:
  BlobDownloads(const BlobCache& cache, security::SandboxedChild& fetcher, const FetchOptions& options)
      : cache_(cache), fetcher_(fetcher), options_(options) {}

  // Downloads `wanted` (none of them cached); the bytes downloaded.
  Result<uint64_t> Run(const std::vector<FetchedBlob*>& wanted);

 private:
  struct InFlight {
    FetchedBlob* blob;
    UniqueFd incoming;
    UniqueFd claim;  // the download lock; released when the download ends
  };

  Result<void> StartWhatMay(std::vector<FetchedBlob*>& pending);
  Result<void> Start(FetchedBlob& blob, UniqueFd claim);
  // One message from the fetcher: progress, or a download to verify and link in.
  Result<uint64_t> HandleReport(const ipc::Message& message);
  Result<void> PauseUnlessStopped(int ms) const;
  void Emit(FetchEvent::Kind kind, const FetchedBlob& blob, uint64_t bytes) const;

  const BlobCache& cache_;
  security::SandboxedChild& fetcher_;
  const FetchOptions& options_;
  std::map<uint64_t, InFlight> in_flight_;
  std::set<const FetchedBlob*> waiting_;
  uint64_t next_id_ = 1;
};

}  // namespace banger::broker
