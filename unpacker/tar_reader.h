// libarchive, restricted to the tar formats (ustar, pax, gnu), reading the plain tar
// bytes a LayerStream yields. No filter is enabled: decompression happened before, so
// libarchive never looks for an external program. Names stay raw bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "ipc/tree_stream.h"
#include "unpacker/layer_stream.h"

struct archive;
struct archive_entry;

namespace banger::unpacker {

struct TarEntry {
  std::string path;                 // as in the archive, raw bytes
  std::optional<std::string> hardlink;  // target path when this is a hardlink
  ipc::EntryKind kind = ipc::EntryKind::kRegular;
  uint32_t mode = 0;  // 07777 bits
  uint32_t uid = 0, gid = 0;
  ipc::Timestamp mtime, atime, ctime;  // atime/ctime equal mtime when absent
  uint64_t size = 0;
  uint32_t rdev_major = 0, rdev_minor = 0;
  std::string symlink_target;
  std::vector<ipc::Xattr> xattrs;
};

class TarReader {
 public:
  // `max_header_bytes` bounds the header records in front of one entry (ustar header,
  // PAX extended headers, GNU long names). libarchive has its own fixed ceiling for
  // a single PAX header (1 MiB), so a bound above that cannot admit more.
  static Result<std::unique_ptr<TarReader>> Open(LayerStream& stream, uint64_t max_header_bytes);
  ~TarReader();

  // The next entry, or nullopt at the end of the archive.
  Result<std::optional<TarEntry>> Next();
  // The current entry's data, in order; `offset` jumps over holes in sparse files.
  using DataSink = std::function<Result<void>(uint64_t offset, const char* data, size_t size)>;
  Result<void> ReadData(const DataSink& sink);

 private:
  TarReader(LayerStream& stream, uint64_t max_header_bytes) : stream_(stream), max_header_bytes_(max_header_bytes) {}
  static ssize_t OnRead(::archive* a, void* self, const void** buffer);
  Error ArchiveError(const std::string& doing) const;
  // The next entry's header (null at the end), its header bytes bounded.
  Result<::archive_entry*> NextHeader();

  LayerStream& stream_;
  uint64_t max_header_bytes_;
  bool entry_open_ = false;  // a header was read, so its data may still be pending
  ::archive* archive_ = nullptr;
  std::optional<Error> stream_error_;  // why OnRead failed
};

}  // namespace banger::unpacker
