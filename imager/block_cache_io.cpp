#include "imager/block_cache_io.h"

#include <ext2fs/ext2fs.h>
#include <limits.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <new>
#include <unordered_map>
#include <vector>

namespace banger::imager {
namespace {

struct CachedBlock {
  std::vector<char> bytes;
  bool dirty = false;
};

struct Channel {
  int fd = -1;
  std::unordered_map<unsigned long long, CachedBlock> blocks;
  // AssumeZerosOutside: bytes outside [data_from, data_to) that this channel has not
  // written (`written`, merged runs, start -> end) read as zeros without a read.
  bool zeros_known = false;
  uint64_t data_from = 0, data_to = 0;
  std::map<uint64_t, uint64_t> written;
};

// Past this many separate written runs the channel stops keeping them and reads again.
constexpr size_t kMaxWrittenRuns = 1 << 16;

void RecordWritten(Channel& self, uint64_t offset, uint64_t length) {
  if (!self.zeros_known || length == 0) return;
  uint64_t start = offset, end = offset + length;
  auto it = self.written.upper_bound(start);
  if (it != self.written.begin() && std::prev(it)->second >= start) --it;
  while (it != self.written.end() && it->first <= end) {
    start = std::min(start, it->first);
    end = std::max(end, it->second);
    it = self.written.erase(it);
  }
  self.written.emplace(start, end);
  if (self.written.size() > kMaxWrittenRuns) {
    self.zeros_known = false;
    self.written.clear();
  }
}

bool KnownZeros(const Channel& self, uint64_t offset, uint64_t length) {
  if (!self.zeros_known || length == 0) return false;
  const uint64_t end = offset + length;
  if (offset < self.data_to && end > self.data_from) return false;
  auto it = self.written.upper_bound(offset);
  if (it != self.written.begin() && std::prev(it)->second > offset) return false;
  return it == self.written.end() || it->first >= end;
}

Channel& Of(io_channel channel) { return *static_cast<Channel*>(channel->private_data); }

errcode_t ErrnoOr(errcode_t fallback) { return errno != 0 ? static_cast<errcode_t>(errno) : fallback; }

errcode_t ReadAt(int fd, char* into, size_t length, uint64_t offset) {
  for (size_t done = 0; done < length;) {
    errno = 0;
    ssize_t n = ::pread(fd, into + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoOr(EXT2_ET_SHORT_READ);
    if (n == 0) {  // past the end of the sparse file: zeros
      std::memset(into + done, 0, length - done);
      return 0;
    }
    done += static_cast<size_t>(n);
  }
  return 0;
}

errcode_t WriteAt(int fd, const iovec* vectors, int count, uint64_t offset) {
  std::vector<iovec> rest(vectors, vectors + count);
  size_t at = 0;
  while (at < rest.size()) {
    errno = 0;
    ssize_t n = ::pwritev(fd, rest.data() + at, static_cast<int>(std::min<size_t>(rest.size() - at, IOV_MAX)),
                          static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ErrnoOr(EXT2_ET_SHORT_WRITE);
    offset += static_cast<uint64_t>(n);
    for (size_t left = static_cast<size_t>(n); left > 0 && at < rest.size();) {
      const size_t taken = std::min(left, rest[at].iov_len);
      rest[at].iov_base = static_cast<char*>(rest[at].iov_base) + taken;
      rest[at].iov_len -= taken;
      left -= taken;
      if (rest[at].iov_len == 0) ++at;
    }
  }
  return 0;
}

// Every dirty block out, in order, neighbours in one write; then the cache is emptied.
errcode_t WriteOut(io_channel channel) {
  Channel& self = Of(channel);
  std::vector<unsigned long long> dirty;
  for (const auto& [block, cached] : self.blocks) {
    if (cached.dirty) dirty.push_back(block);
  }
  std::sort(dirty.begin(), dirty.end());
  const uint64_t size = static_cast<uint64_t>(channel->block_size);
  std::vector<iovec> run;
  for (size_t i = 0; i < dirty.size();) {
    size_t j = i;
    run.clear();
    while (j < dirty.size() && dirty[j] == dirty[i] + (j - i)) {
      CachedBlock& cached = self.blocks[dirty[j]];
      run.push_back({cached.bytes.data(), cached.bytes.size()});
      ++j;
    }
    if (errcode_t rc = WriteAt(self.fd, run.data(), static_cast<int>(run.size()), dirty[i] * size)) return rc;
    RecordWritten(self, dirty[i] * size, (j - i) * size);
    i = j;
  }
  self.blocks.clear();
  return 0;
}

errcode_t Open(const char* name, int flags, io_channel* channel) {
  if (name == nullptr) return EXT2_ET_BAD_DEVICE_NAME;
  char* end = nullptr;
  const long fd = std::strtol(name, &end, 10);
  if (*name == '\0' || *end != '\0' || fd < 0) return EXT2_ET_BAD_DEVICE_NAME;
  auto* io = new (std::nothrow) struct_io_channel();
  auto* self = new (std::nothrow) Channel();
  char* copy = strdup(name);
  if (io == nullptr || self == nullptr || copy == nullptr) {
    delete io;
    delete self;
    std::free(copy);
    return EXT2_ET_NO_MEMORY;
  }
  self->fd = static_cast<int>(fd);
  io->magic = EXT2_ET_MAGIC_IO_CHANNEL;
  io->manager = BlockCacheIoManager();
  io->name = copy;
  io->block_size = 1024;
  io->refcount = 1;
  (void)flags;  // the fd was opened by the caller, as it wanted it
  io->private_data = self;
  *channel = io;
  return 0;
}

errcode_t Close(io_channel channel) {
  if (--channel->refcount > 0) return 0;
  errcode_t rc = WriteOut(channel);
  Channel* self = &Of(channel);
  if (::close(self->fd) != 0 && rc == 0) rc = ErrnoOr(EXT2_ET_SHORT_WRITE);
  delete self;
  std::free(channel->name);
  delete channel;
  return rc;
}

errcode_t SetBlockSize(io_channel channel, int size) {
  if (channel->block_size == size) return 0;
  if (errcode_t rc = WriteOut(channel)) return rc;
  channel->block_size = size;
  return 0;
}

size_t Bytes(io_channel channel, int count) {
  return count < 0 ? static_cast<size_t>(-count) : static_cast<size_t>(count) * static_cast<size_t>(channel->block_size);
}

errcode_t Read64(io_channel channel, unsigned long long block, int count, void* data) {
  Channel& self = Of(channel);
  const size_t bytes = Bytes(channel, count);
  if (count == 1) {
    auto it = self.blocks.find(block);
    if (it != self.blocks.end()) {
      std::memcpy(data, it->second.bytes.data(), bytes);
      return 0;
    }
    const uint64_t offset = block * static_cast<uint64_t>(channel->block_size);
    if (KnownZeros(self, offset, bytes)) {
      std::memset(data, 0, bytes);  // a table block no one wrote yet: a hole in the file
    } else if (errcode_t rc = ReadAt(self.fd, static_cast<char*>(data), bytes, offset)) {
      return rc;
    }
    if (self.blocks.size() >= kCachedBlocks) {
      if (errcode_t rc = WriteOut(channel)) return rc;
    }
    self.blocks[block].bytes.assign(static_cast<char*>(data), static_cast<char*>(data) + bytes);
    return 0;
  }
  if (errcode_t rc = WriteOut(channel)) return rc;
  return ReadAt(self.fd, static_cast<char*>(data), bytes, block * static_cast<uint64_t>(channel->block_size));
}

errcode_t Write64(io_channel channel, unsigned long long block, int count, const void* data) {
  Channel& self = Of(channel);
  const size_t bytes = Bytes(channel, count);
  if (count == 1) {
    auto it = self.blocks.find(block);
    if (it == self.blocks.end() && self.blocks.size() >= kCachedBlocks) {
      if (errcode_t rc = WriteOut(channel)) return rc;
    }
    CachedBlock& cached = self.blocks[block];
    cached.bytes.assign(static_cast<const char*>(data), static_cast<const char*>(data) + bytes);
    cached.dirty = true;
    return 0;
  }
  if (errcode_t rc = WriteOut(channel)) return rc;
  iovec one{const_cast<void*>(data), bytes};
  const uint64_t offset = block * static_cast<uint64_t>(channel->block_size);
  if (errcode_t rc = WriteAt(self.fd, &one, 1, offset)) return rc;
  RecordWritten(self, offset, bytes);
  return 0;
}

errcode_t Read32(io_channel channel, unsigned long block, int count, void* data) { return Read64(channel, block, count, data); }
errcode_t Write32(io_channel channel, unsigned long block, int count, const void* data) {
  return Write64(channel, block, count, data);
}

errcode_t Flush(io_channel channel) { return WriteOut(channel); }

errcode_t SetOption(io_channel, const char*, const char*) { return EXT2_ET_INVALID_ARGUMENT; }

errcode_t Unimplemented(io_channel, unsigned long long, unsigned long long) { return EXT2_ET_UNIMPLEMENTED; }

// libext2fs takes the manager by a non-const pointer; this table is filled once and never
// changed.
struct_io_manager manager = [] {
  struct_io_manager m{};
  m.magic = EXT2_ET_MAGIC_IO_MANAGER;
  m.name = "banger block cache I/O manager";
  m.open = Open;
  m.close = Close;
  m.set_blksize = SetBlockSize;
  m.read_blk = Read32;
  m.write_blk = Write32;
  m.flush = Flush;
  m.set_option = SetOption;
  m.read_blk64 = Read64;
  m.write_blk64 = Write64;
  m.discard = Unimplemented;
  m.zeroout = Unimplemented;
  return m;
}();

}  // namespace

io_manager BlockCacheIoManager() { return &manager; }

void AssumeZerosOutside(io_channel channel, uint64_t data_from, uint64_t data_to) {
  if (channel == nullptr || channel->manager != &manager) return;
  Channel& self = Of(channel);
  self.zeros_known = true;
  self.data_from = data_from;
  self.data_to = data_to;
  self.written.clear();
}

void DropCachedRange(io_channel channel, uint64_t offset, uint64_t length) {
  if (channel == nullptr || channel->manager != &manager || length == 0) return;
  Channel& self = Of(channel);
  if (self.blocks.empty()) return;
  const uint64_t size = static_cast<uint64_t>(channel->block_size);
  const uint64_t first = offset / size, end = (offset + length + size - 1) / size;
  if (end - first > self.blocks.size()) {
    std::erase_if(self.blocks, [&](const auto& cached) { return cached.first >= first && cached.first < end; });
    return;
  }
  for (uint64_t block = first; block < end; ++block) self.blocks.erase(block);
}

}  // namespace banger::imager
