// File contents go where the image's data region will be (docs/architecture.md, "How a
// content byte travels"): the unpacker writes them into rootfs.ext4 from
// ipc::kDataRegionStart on, and the imager maps each file's blocks where they already
// are. The tree records only point at extents in it.
//
// So every file starts on a 4 KiB boundary and a byte's place within its block is its
// place within the file's block (spool offset = file offset, modulo 4 KiB); a file's
// last block is padded with zeros, and a zero-filled 4 KiB block is not written (a
// hole). Every write covers whole blocks at a block offset from a page-aligned buffer,
// so the descriptor may be O_DIRECT; the block holding the end is written whole, zeros
// after the end, and again when more data follows.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/aligned_buffer.h"
#include "base/result.h"
#include "ipc/tree_stream.h"

namespace banger::unpacker {

// Whether `size` bytes at `data` are all zero (such blocks become holes).
bool IsAllZero(const char* data, size_t size);

// The data region's space, from `base` on (docs/unpacker.md, "Layers in parallel").
// Two layers are read at once: the current one (whose entries the tree is taking)
// writes at the region's end, in chunks; the next one, read ahead, writes into a
// window reserved for it at a layer boundary, as large as its compressed blob, and
// waits for its turn once that is full. Windows are reserved, and the end handed out,
// only at points fixed by the layers' order and bytes, never by which thread ran
// first: the same image gives the same region (docs/imager.md, "Reproducible output").
// Thread-safe.
class RegionSpace {
 public:
  static constexpr uint64_t kChunkBytes = 16 << 20;
  struct Chunk {
    uint64_t start = 0, length = 0;
  };
  // `chunk` bytes per chunk at the end, a multiple of 4 KiB.
  explicit RegionSpace(uint64_t base, uint64_t chunk = kChunkBytes) : base_(base), chunk_(chunk), next_(base) {}

  // Layer `layer` will be read ahead: a window of `bytes` (rounded up to 4 KiB) at the
  // end, if it ends by `up_to` (the data bound: windows alone never take the region, and
  // the file, past it); else none, and the layer writes only once it is current.
  void Reserve(uint32_t layer, uint64_t bytes, uint64_t up_to);
  // From now on `layer` writes at the end (its earlier layers are done).
  void MakeCurrent(uint32_t layer);
  // Where `layer` writes next: its window, unused until now, else a chunk at the end
  // once it is current; waits until then, or fails when `*stop` turns true (Wake).
  Result<Chunk> Take(uint32_t layer, const std::atomic<bool>* stop);
  // A waiting Take looks at its stop flag again.
  void Wake();
  // `layer`'s data ends at `end` (its writer flushed); the end of the last chunk it took
  // at the region's end, unused, goes back.
  void Finished(uint32_t layer, uint64_t end);

  uint64_t base() const { return base_; }
  // Bytes from `base` to the end of the last data written.
  uint64_t length() const;

 private:
  const uint64_t base_, chunk_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  uint64_t next_;                    // the end: where the next window or chunk goes
  uint64_t end_ = 0;                 // the end of the data written
  uint32_t current_ = 0;
  std::optional<uint32_t> last_taker_;  // whose chunk ends at next_
  std::map<uint32_t, Chunk> windows_;   // not yet taken
};

// The writes themselves happen on a thread of their own from two buffers, so parsing the
// next entries overlaps the disk taking the last ones (a direct write waits for the disk;
// 200 000 small files are 800 MB of blocks).
class SpoolWriter {
 public:
  // Data of layer `layer` goes to `fd` in chunks of `space`; a wait for a chunk ends
  // with an error once `*stop` is true.
  SpoolWriter(int fd, RegionSpace& space, uint32_t layer, const std::atomic<bool>* stop = nullptr);
  // Data goes to `fd` from `base` (a multiple of 4 KiB) on, in one piece.
  explicit SpoolWriter(int fd, uint64_t base = 0);
  ~SpoolWriter();
  SpoolWriter(const SpoolWriter&) = delete;
  SpoolWriter& operator=(const SpoolWriter&) = delete;
  // Data of the current file at `file_offset` (increasing within a file).
  Result<void> Append(uint64_t file_offset, const char* data, size_t size);
  // The current file's extents; the next Append starts a new file, on a new block.
  std::vector<ipc::Extent> TakeExtents();
  // Writes what is buffered, the last block padded with zeros, and waits until every
  // write is done; the first failure, if any.
  Result<void> Flush();
  // Bytes from the region's base to the end of this writer's data: a bound on it bounds
  // the region (every layer's data and windows before it count), the same for every run.
  uint64_t bytes_written() const { return chunk_end_ == 0 ? 0 : end_ - space_->base(); }

 private:
  // Where a piece at `file_offset` goes: after everything written, at its offset within
  // its block, in the same spool block as the file's last piece when it shares its block;
  // a new block past the chunk's end starts the next chunk.
  Result<uint64_t> PlaceFor(uint64_t file_offset);
  // Writes out what this chunk holds and goes on at the start of a new one.
  Result<void> NextChunk();
  Result<void> Put(uint64_t at, const char* data, size_t size);
  void AddExtent(uint64_t file_offset, uint64_t length, uint64_t spool_offset);
  // Hands the buffer's whole blocks (and, with `pad`, the partial last one padded with
  // zeros) to the writer and goes on in the other buffer, the partial block carried over.
  Result<void> WriteOut(bool pad);
  // Waits until the writer is idle; its first failure, if any.
  Result<void> WaitIdle();
  void Work();

  SpoolWriter(int fd, std::unique_ptr<RegionSpace> own, RegionSpace* space, uint32_t layer,
              const std::atomic<bool>* stop);

  int fd_;
  std::unique_ptr<RegionSpace> own_space_;  // with the one-piece constructor
  RegionSpace* space_;
  uint32_t layer_ = 0;
  const std::atomic<bool>* stop_ = nullptr;
  uint64_t chunk_end_ = 0;  // none taken yet
  bool flushed_ = false;
  uint64_t end_ = 0;    // where the next byte would go, buffered bytes included
  uint64_t start_ = 0;  // spool offset of the buffer's first byte, a block boundary
  AlignedBuffer buffers_[2];
  int current_ = 0;  // the buffer holding [start_, end_)

  // The writer: one write at a time, of the buffer that is not current.
  std::mutex mutex_;
  std::condition_variable changed_;
  struct Write {
    const char* data;
    uint64_t length, offset;
  };
  std::optional<Write> pending_;
  bool stopping_ = false;
  std::optional<Error> error_;
  std::thread worker_;
  // The current file's last written block: its number in the file and where it is.
  bool file_started_ = false;
  uint64_t last_file_block_ = 0, last_spool_block_ = 0;
  std::vector<ipc::Extent> extents_;
};

}  // namespace banger::unpacker
