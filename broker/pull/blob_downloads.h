// The downloads of one fetch: at most `parallel_downloads` blobs at once through one
// fetcher. The fetcher gets the write end of a pipe per blob, never a file: the broker
// moves the bytes into an unnamed cache file only it can write, hashing them as they land,
// and links the file in once the fetcher says it is done and the bytes match (invariant
// I8). A blob another banger is downloading waits for that one.
#pragma once

#include <chrono>

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "base/fd.h"
#include "base/result.h"
#include "broker/pull/fetch.h"
#include "broker/pull/pipe_download.h"
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
    std::unique_ptr<IncomingBlob> incoming;  // where `pipe` puts the bytes: its address stays put
    PipeDownload pipe;
    UniqueFd claim;  // the download lock; released when the download ends
    std::chrono::steady_clock::time_point deadline;  // FetchOptions::min_download_rate
  };

  Result<void> StartWhatMay(std::vector<FetchedBlob*>& pending);
  // How long the next wait may be: until the nearest deadline, at most `longest_ms`.
  int WaitMs(int longest_ms) const;
  // An error naming the first download past its deadline.
  Result<void> CheckDeadlines() const;
  Result<void> Start(FetchedBlob& blob, UniqueFd claim);
  // Moves what the fetcher wrote into the blob's pipe into its cache file.
  Result<void> Drain(InFlight& download);
  // A pipe error: bytes that cannot be the blob are the fetcher's protocol break.
  Error PipeFailed(Error error);
  // One message from the fetcher: a download it says is done, to verify and link in.
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
