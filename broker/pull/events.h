// What a pull tells whoever watches it (the command line's progress display): its
// phases, each blob's download, and the unpacker's progress. The pull room knows only
// this interface; how it is shown is the command line's business.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace banger::broker {

struct FetchEvent {
  // kWaiting: another banger is downloading this blob; this pull waits for it.
  enum Kind { kResolved, kCached, kWaiting, kStarted, kProgress, kDone } kind;
  std::string digest;
  uint64_t bytes = 0;
  uint64_t total = 0;
};

class PullObserver {
 public:
  virtual ~PullObserver() = default;
  // A phase of the pull: "resolving", "fetched", "unpacking", "unpacked", "written", with
  // a line for a person and details for --json.
  virtual void Phase(const std::string& phase, const std::string& text, const nlohmann::json& detail) = 0;
  virtual void Fetch(const FetchEvent& event) = 0;
  // What the unpacker says it has read: of `layer`, and entries of every layer so far.
  virtual void Unpack(size_t layer, uint64_t uncompressed_bytes, uint64_t entries) = 0;
  // What the imager has written so far: the blocks rootfs.ext4 holds (the broker's own
  // look at the file, not the imager's word).
  virtual void Write(uint64_t written_bytes) = 0;
};

}  // namespace banger::broker
