#include "unpacker/layer_reader.h"

#include <system_error>

#include "base/text.h"

namespace banger::unpacker {

Result<std::unique_ptr<LayerReader>> LayerReader::Start(uint32_t index, int fd, uint64_t grows_to, std::string name,
                                                        const LayerReadBounds& bounds, int region_fd,
                                                        RegionSpace& region, ReplayClock& clock) {
  std::unique_ptr<LayerReader> reader(new LayerReader(index, std::move(name), bounds, region_fd, region, clock));
  try {
    reader->thread_ = std::thread([r = reader.get(), fd, grows_to] { r->Run(fd, grows_to); });
  } catch (const std::system_error& e) {
    return Error{ErrorCode::kIo, reader->name_ + ": cannot start its reader thread: " + e.what()};
  }
  return reader;
}

LayerReader::~LayerReader() {
  stop_ = true;
  {
    std::lock_guard lock(mutex_);  // a Push waiting for room sees stop_ once woken
  }
  changed_.notify_all();
  region_.Wake();  // a wait for room in the region ends too
  if (thread_.joinable()) thread_.join();
}

void LayerReader::Run(int fd, uint64_t grows_to) {
  Result<void> read = [&]() -> Result<void> {
    auto on_wait = [this](int64_t ns) {
      if (current_) clock_.waited_ns += ns;
    };
    BANGER_ASSIGN_OR_RETURN(auto stream, LayerStream::Open(fd, name_, bounds_.stream, grows_to, &stop_, on_wait));
    SpoolWriter spool(region_fd_, region_, index_, &stop_);
    Result<void> entries = ReadAll(*stream, spool);
    if (entries) entries = stream->Drain();
    if (!entries) {
      stop_ = true;  // the stream's worker may wait for the download: it need not any more
      return entries;
    }
    BANGER_TRY(spool.Flush());
    uncompressed_bytes_ = stream->uncompressed_bytes();
    digest_ = stream->Digest();
    return {};
  }();
  std::lock_guard lock(mutex_);
  if (!read) error_ = std::move(read).error();
  ended_ = true;
  changed_.notify_all();
}

// The bounds on what costs: time (inflating zeros costs CPU, not space) and the bytes
// the region actually holds.
Result<void> LayerReader::WithinBounds(const TarEntry& entry, const SpoolWriter& spool) const {
  const auto busy = std::chrono::steady_clock::now() - clock_.started - std::chrono::nanoseconds(clock_.waited_ns.load());
  if (busy > std::chrono::seconds(bounds_.max_seconds)) {
    return Error{ErrorCode::kTimeout, name_ + ": still unpacking '" + Printable(entry.path) + "' after " +
                                          std::to_string(bounds_.max_seconds) +
                                          " seconds (the time bound, max_unpack_seconds)"};
  }
  if (spool.bytes_written() > bounds_.max_spool_bytes) {
    return Error{ErrorCode::kOversized, name_ + ": '" + Printable(entry.path) + "' takes the image's file data past " +
                                            std::to_string(bounds_.max_spool_bytes) +
                                            " bytes, holes not counted (the data bound, max_spool_bytes)"};
  }
  return {};
}

// Every entry, its data (a regular file's, but a hardlink's) written as it is read;
// the entry whose data fails is queued with that failure, and ends the layer.
Result<void> LayerReader::ReadAll(LayerStream& stream, SpoolWriter& spool) {
  BANGER_ASSIGN_OR_RETURN(auto reader, TarReader::Open(stream, bounds_.max_header_bytes));
  for (;;) {
    BANGER_ASSIGN_OR_RETURN(std::optional<TarEntry> entry, reader->Next());
    if (!entry) return {};
    BANGER_TRY(WithinBounds(*entry, spool));
    ReadEntry read{std::move(*entry)};
    Result<void> data;
    if (read.entry.kind == ipc::EntryKind::kRegular && !read.entry.hardlink) {
      const TarEntry& file = read.entry;
      data = reader->ReadData([&](uint64_t offset, const char* bytes, size_t size) -> Result<void> {
        if (offset + size > file.size) {
          return Error{ErrorCode::kMalformed, name_ + ": data of '" + Printable(file.path) +
                                                  "' runs past its declared size"};
        }
        BANGER_TRY(spool.Append(offset, bytes, size));
        return WithinBounds(file, spool);
      });
      if (data) {
        read.data = spool.TakeExtents();
      } else {
        read.data = data.error();
      }
    }
    read.uncompressed_bytes = stream.uncompressed_bytes();
    if (!Push(std::move(read))) return Error{ErrorCode::kStopped, name_ + ": stopped"};
    if (!data) return data;
  }
}

size_t LayerReader::Footprint(const ReadEntry& read) {
  const TarEntry& e = read.entry;
  size_t bytes = sizeof(ReadEntry) + e.path.size() + e.symlink_target.size() + (e.hardlink ? e.hardlink->size() : 0);
  for (const auto& x : e.xattrs) bytes += sizeof x + x.name.size() + x.value.size();
  if (read.data) bytes += read.data->size() * sizeof(ipc::Extent);
  return bytes;
}

bool LayerReader::Push(ReadEntry entry) {
  const size_t bytes = Footprint(entry);
  std::unique_lock lock(mutex_);
  // One entry always fits: a single one larger than the bound waits for an empty queue.
  auto room = [&] { return stop_.load() || queue_.empty() || queued_bytes_ + bytes <= kQueuedBytes; };
  if (!room()) {
    reader_waiting_ = true;
    changed_.notify_all();  // the tree takes what is here
    changed_.wait(lock, room);
    reader_waiting_ = false;
  }
  if (stop_) return false;
  queued_bytes_ += bytes;
  const uint64_t read = entry.uncompressed_bytes;
  queue_.push_back(std::move(entry));
  if (tree_waiting_ && (queue_.size() >= kWakeAt || read - woken_at_bytes_ >= kWakeAtBytes)) {
    woken_at_bytes_ = read;
    changed_.notify_all();
  }
  return true;
}

Result<std::optional<ReadEntry>> LayerReader::Next() {
  std::unique_lock lock(mutex_);
  if (queue_.empty() && !ended_) {
    tree_waiting_ = true;
    changed_.wait(lock, [&] { return !queue_.empty() || ended_; });
    tree_waiting_ = false;
  }
  if (!queue_.empty()) {
    std::optional<ReadEntry> entry(std::move(queue_.front()));
    queue_.pop_front();
    queued_bytes_ -= Footprint(*entry);
    if (reader_waiting_ && queued_bytes_ <= kQueuedBytes / 2) changed_.notify_all();
    return entry;
  }
  if (error_) return *error_;
  return std::optional<ReadEntry>();
}

}  // namespace banger::unpacker
