#include "unpacker/spool_writer.h"

#include <algorithm>
#include <cstring>
#include <system_error>

#include "base/fd.h"

namespace banger::unpacker {
namespace {

constexpr uint64_t kBlock = 4096;
constexpr size_t kFlushAt = 2 << 20;
// A piece is at most a block and its gap less than two, so the buffer never holds more.
constexpr size_t kBufferBytes = kFlushAt + 3 * kBlock;

uint64_t BlockStart(uint64_t offset) { return offset / kBlock * kBlock; }
uint64_t BlockEnd(uint64_t offset) { return (offset + kBlock - 1) / kBlock * kBlock; }

}  // namespace

bool IsAllZero(const char* data, size_t size) {
  return size == 0 || (data[0] == 0 && std::memcmp(data, data + 1, size - 1) == 0);
}

void RegionSpace::Reserve(uint32_t layer, uint64_t bytes, uint64_t up_to) {
  std::lock_guard lock(mutex_);
  const uint64_t room = up_to > next_ ? up_to - next_ : 0;
  const uint64_t length = BlockEnd(bytes);
  if (length == 0 || length > room) return;  // the layer writes only once it is current
  windows_[layer] = Chunk{next_, length};
  next_ += length;
  last_taker_.reset();
}

void RegionSpace::MakeCurrent(uint32_t layer) {
  {
    std::lock_guard lock(mutex_);
    current_ = layer;
  }
  changed_.notify_all();
}

void RegionSpace::Wake() {
  { std::lock_guard lock(mutex_); }
  changed_.notify_all();
}

Result<RegionSpace::Chunk> RegionSpace::Take(uint32_t layer, const std::atomic<bool>* stop) {
  std::unique_lock lock(mutex_);
  if (auto window = windows_.find(layer); window != windows_.end()) {
    const Chunk chunk = window->second;
    windows_.erase(window);
    return chunk;
  }
  changed_.wait(lock, [&] { return current_ == layer || (stop != nullptr && stop->load()); });
  if (current_ != layer) return Error{ErrorCode::kStopped, "stopped while waiting for room in the data region"};
  const Chunk chunk{next_, chunk_};
  next_ += chunk_;
  last_taker_ = layer;
  return chunk;
}

void RegionSpace::Finished(uint32_t layer, uint64_t end) {
  std::lock_guard lock(mutex_);
  end_ = std::max(end_, end);
  // Only the layer whose chunk ends the region gives its tail back; another layer
  // finishing meanwhile (the one read ahead, inside its window) changes nothing here.
  if (last_taker_ != layer) return;
  if (next_ - chunk_ <= end && end <= next_) next_ = BlockEnd(end);
  last_taker_.reset();
}

uint64_t RegionSpace::length() const {
  std::lock_guard lock(mutex_);
  return end_ > base_ ? end_ - base_ : 0;
}

SpoolWriter::SpoolWriter(int fd, RegionSpace& space, uint32_t layer, const std::atomic<bool>* stop)
    : SpoolWriter(fd, nullptr, &space, layer, stop) {}

SpoolWriter::SpoolWriter(int fd, uint64_t base)
    : SpoolWriter(fd, std::make_unique<RegionSpace>(base, (1ull << 62) / kBlock * kBlock), nullptr, 0, nullptr) {}

SpoolWriter::SpoolWriter(int fd, std::unique_ptr<RegionSpace> own, RegionSpace* space, uint32_t layer,
                         const std::atomic<bool>* stop)
    : fd_(fd),
      own_space_(std::move(own)),
      space_(space != nullptr ? space : own_space_.get()),
      layer_(layer),
      stop_(stop),
      buffers_{MakeAlignedBuffer(kBufferBytes), MakeAlignedBuffer(kBufferBytes)} {}


SpoolWriter::~SpoolWriter() {
  if (!worker_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  worker_.join();
}

void SpoolWriter::Work() {
  for (;;) {
    Write write;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return stopping_ || pending_.has_value(); });
      if (!pending_) return;  // stopping, nothing left
      write = *pending_;
    }
    Result<void> done = PwriteAll(fd_, std::string_view(write.data, write.length), write.offset, "writing the spool");
    {
      std::lock_guard lock(mutex_);
      pending_.reset();
      if (!done && !error_) error_ = done.error();
    }
    changed_.notify_all();
  }
}

Result<void> SpoolWriter::WaitIdle() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return !pending_.has_value(); });
  if (error_) return *error_;
  return {};
}

Result<uint64_t> SpoolWriter::PlaceFor(uint64_t file_offset) {
  const uint64_t within = file_offset % kBlock;
  if (file_started_ && file_offset / kBlock == last_file_block_) return last_spool_block_ + within;
  if (BlockEnd(end_) >= chunk_end_) BANGER_TRY(NextChunk());
  return BlockEnd(end_) + within;
}

Result<void> SpoolWriter::NextChunk() {
  if (chunk_end_ != 0) {
    BANGER_TRY(WriteOut(true));
  }
  BANGER_ASSIGN_OR_RETURN(const RegionSpace::Chunk chunk, space_->Take(layer_, stop_));
  start_ = end_ = chunk.start;
  chunk_end_ = chunk.start + chunk.length;
  return {};
}

Result<void> SpoolWriter::Put(uint64_t at, const char* data, size_t size) {
  // The gap before `at` (the rest of the last block, or the start of this one) is zeros.
  char* buffer = buffers_[current_].get();
  std::memset(buffer + (end_ - start_), 0, at - end_);
  CopyForDirectIo(buffer + (at - start_), data, size);
  end_ = at + size;
  if (end_ - start_ >= kFlushAt) return WriteOut(false);
  return {};
}

void SpoolWriter::AddExtent(uint64_t file_offset, uint64_t length, uint64_t spool_offset) {
  if (!extents_.empty()) {
    ipc::Extent& last = extents_.back();
    if (last.file_offset + last.length == file_offset && last.spool_offset + last.length == spool_offset) {
      last.length += length;
      return;
    }
  }
  extents_.push_back({file_offset, length, spool_offset});
}

Result<void> SpoolWriter::Append(uint64_t file_offset, const char* data, size_t size) {
  // After Flush the end of the last chunk may belong to someone else.
  if (flushed_) return Error{ErrorCode::kUnexpected, "file data after the data region's writer was flushed"};
  // Walk the data in pieces that end on 4 KiB boundaries of the file, so each whole
  // zero block can be left out.
  while (size > 0) {
    uint64_t piece = kBlock - (file_offset % kBlock);
    if (piece > size) piece = size;
    if (!IsAllZero(data, piece)) {
      BANGER_ASSIGN_OR_RETURN(const uint64_t at, PlaceFor(file_offset));
      BANGER_TRY(Put(at, data, piece));
      AddExtent(file_offset, piece, at);
      file_started_ = true;
      last_file_block_ = file_offset / kBlock;
      last_spool_block_ = BlockStart(at);
    }
    file_offset += piece;
    data += piece;
    size -= piece;
  }
  return {};
}

std::vector<ipc::Extent> SpoolWriter::TakeExtents() {
  std::vector<ipc::Extent> out;
  out.swap(extents_);
  file_started_ = false;
  return out;
}

Result<void> SpoolWriter::Flush() {
  BANGER_TRY(WriteOut(true));
  if (chunk_end_ != 0) space_->Finished(layer_, end_);
  flushed_ = true;
  return WaitIdle();
}

Result<void> SpoolWriter::WriteOut(bool pad) {
  const uint64_t held = end_ - start_;
  const uint64_t whole = BlockStart(held);
  const uint64_t length = pad ? BlockEnd(held) : whole;
  if (length == 0) return {};
  char* buffer = buffers_[current_].get();
  if (length > held) std::memset(buffer + held, 0, length - held);
  FinishDirectIoCopies();  // before the writer thread hands the buffer to the disk
  BANGER_TRY(WaitIdle());  // the other buffer is free again
  char* next = buffers_[1 - current_].get();
  std::memcpy(next, buffer + whole, held - whole);  // the partial block goes on in the next
  if (!worker_.joinable()) {
    try {
      worker_ = std::thread([this] { Work(); });
    } catch (const std::system_error& e) {
      return Error{ErrorCode::kIo, std::string("cannot start the spool writer thread: ") + e.what()};
    }
  }
  {
    std::lock_guard lock(mutex_);
    pending_ = Write{buffer, length, start_};
  }
  changed_.notify_all();
  current_ = 1 - current_;
  start_ += whole;
  return {};
}

}  // namespace banger::unpacker
