// One layer read on a thread of its own: decompressed and hashed (LayerStream), its tar
// entries parsed, each regular file's data written into the image's data region in
// chunks of its own (RegionSpace), and the entries queued, in the archive's order, for
// the thread that applies them to the tree. So while one layer's entries are applied,
// the next layer is already being read: layers inflate and hash in parallel
// (docs/unpacker.md, "Layers in parallel").
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "unpacker/layer_stream.h"
#include "unpacker/spool_writer.h"
#include "unpacker/tar_reader.h"

namespace banger::unpacker {

struct LayerReadBounds {
  StreamLimits stream;
  uint64_t max_header_bytes = 1 << 20;
  uint64_t max_spool_bytes = 0;  // the data region's bytes, every layer's
  uint64_t max_seconds = 3600;   // the replay's busy time
};

// The replay's time: wall time since it started, less the time the current layer
// waited for its download (the layer read ahead waits while the current one works).
struct ReplayClock {
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::atomic<int64_t> waited_ns{0};  // every current layer's waits, as they happen
};

struct ReadEntry {
  TarEntry entry;
  // A regular file's extents in the region (empty for anything else), or why its data
  // could not be read; then nothing after it is.
  Result<std::vector<ipc::Extent>> data = std::vector<ipc::Extent>{};
  uint64_t uncompressed_bytes = 0;  // of the layer, when this entry was read
};

class LayerReader {
 public:
  // Starts reading layer `index` from `fd` (growing to `grows_to` while it downloads,
  // when nonzero).
  static Result<std::unique_ptr<LayerReader>> Start(uint32_t index, int fd, uint64_t grows_to, std::string name,
                                                    const LayerReadBounds& bounds, int region_fd,
                                                    RegionSpace& region, ReplayClock& clock);
  // Stops the reader (a wait for a download ends too) and joins it.
  ~LayerReader();
  LayerReader(const LayerReader&) = delete;
  LayerReader& operator=(const LayerReader&) = delete;

  // The next entry, in the archive's order; nullopt after the last, once the layer was
  // read to its end (padding included) and its data written out.
  Result<std::optional<ReadEntry>> Next();
  // After the last entry: "sha256:..." of the uncompressed layer, and its size.
  const std::string& digest() const { return digest_; }
  uint64_t uncompressed_bytes() const { return uncompressed_bytes_; }
  // The tree takes this layer's entries from now on: its waits for the download are
  // the replay's from here (before, the current layer was busy meanwhile).
  void BecameCurrent() { current_ = true; }

 private:
  // Bytes of entries read ahead of the tree, about, at most; more wait (a bound on
  // memory: about 20 000 entries, a whole layer of most images).
  static constexpr size_t kQueuedBytes = 8 << 20;
  // A tree waiting for entries is woken once this many wait, or this much of the layer
  // was read since it was last woken (its progress reports), not for each entry (it
  // applies them faster than they are read).
  static constexpr size_t kWakeAt = 64;
  static constexpr uint64_t kWakeAtBytes = 8 << 20;
  static size_t Footprint(const ReadEntry& entry);

  LayerReader(uint32_t index, std::string name, const LayerReadBounds& bounds, int region_fd, RegionSpace& region,
              ReplayClock& clock)
      : index_(index), name_(std::move(name)), bounds_(bounds), region_fd_(region_fd), region_(region), clock_(clock) {}
  void Run(int fd, uint64_t grows_to);
  Result<void> ReadAll(LayerStream& stream, SpoolWriter& spool);
  Result<void> WithinBounds(const TarEntry& entry, const SpoolWriter& spool) const;
  // Queues `entry`; false when the reader is being stopped.
  bool Push(ReadEntry entry);

  const uint32_t index_;
  const std::string name_;
  const LayerReadBounds bounds_;
  const int region_fd_;
  RegionSpace& region_;
  ReplayClock& clock_;

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<ReadEntry> queue_;
  size_t queued_bytes_ = 0;
  bool reader_waiting_ = false, tree_waiting_ = false;
  uint64_t woken_at_bytes_ = 0;  // the layer's bytes read when the tree was last woken
  bool ended_ = false;         // nothing more will be queued
  std::optional<Error> error_;  // why, when the layer could not be read to its end
  std::atomic<bool> stop_{false};
  std::string digest_;
  uint64_t uncompressed_bytes_ = 0;
  std::atomic<bool> current_{false};
  std::thread thread_;
};

}  // namespace banger::unpacker
