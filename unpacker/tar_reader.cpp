#include "unpacker/tar_reader.h"

#include <archive.h>
#include <archive_entry.h>

#include <cstring>

#include "ipc/ext4_limits.h"
#include "base/text.h"

namespace banger::unpacker {
namespace {

ipc::Timestamp Time(int64_t sec, long nsec) {
  return ipc::Timestamp{sec, static_cast<uint32_t>(nsec < 0 || nsec >= 1'000'000'000 ? 0 : nsec)};
}

}  // namespace

ssize_t TarReader::OnRead(::archive* a, void* self_ptr, const void** out) {
  auto* self = static_cast<TarReader*>(self_ptr);
  auto piece = self->stream_.Next();
  if (!piece) {
    self->stream_error_ = piece.error();
    archive_set_error(a, EIO, "%s", piece.error().message.c_str());
    return -1;
  }
  *out = piece->data();
  return static_cast<ssize_t>(piece->size());
}

Error TarReader::ArchiveError(const std::string& doing) const {
  if (stream_error_) return *stream_error_;
  const char* text = archive_error_string(archive_);
  return Error{ErrorCode::kMalformed, stream_.name() + ": " + doing + ": " + (text ? text : "libarchive failed")};
}

Result<std::unique_ptr<TarReader>> TarReader::Open(LayerStream& stream, uint64_t max_header_bytes) {
  std::unique_ptr<TarReader> reader(new TarReader(stream, max_header_bytes));
  reader->archive_ = archive_read_new();
  if (reader->archive_ == nullptr) return Error{ErrorCode::kIo, "libarchive: out of memory"};
  // The tar reader handles ustar, pax and GNU; "none" is the only filter. Any warning
  // here (an external program, say) is fatal.
  if (archive_read_support_format_tar(reader->archive_) != ARCHIVE_OK ||
      archive_read_support_filter_none(reader->archive_) != ARCHIVE_OK) {
    return reader->ArchiveError("configuring libarchive");
  }
  if (archive_read_open(reader->archive_, reader.get(), nullptr, &TarReader::OnRead, nullptr) != ARCHIVE_OK) {
    return reader->ArchiveError("not a tar archive");
  }
  return reader;
}

TarReader::~TarReader() {
  if (archive_ != nullptr) archive_read_free(archive_);
}

Result<archive_entry*> TarReader::NextHeader() {
  archive_entry* entry = nullptr;
  // Whatever the format layer consumes between the end of one entry's data (padding
  // included, hence the skip) and the start of the next is that entry's headers.
  if (entry_open_ && archive_read_data_skip(archive_) != ARCHIVE_OK) return ArchiveError("skipping file data");
  const la_int64_t headers_start = archive_filter_bytes(archive_, 0);
  int rc = archive_read_next_header(archive_, &entry);
  entry_open_ = rc == ARCHIVE_OK || rc == ARCHIVE_WARN;
  if (entry_open_) {
    const la_int64_t header_bytes = archive_filter_bytes(archive_, 0) - headers_start;
    if (header_bytes > 0 && static_cast<uint64_t>(header_bytes) > max_header_bytes_) {
      const char* name = archive_entry_pathname(entry);
      return Error{ErrorCode::kOversized, stream_.name() + ": entry '" + Printable(name ? name : "?") +
                                              "' has " + std::to_string(header_bytes) +
                                              " bytes of tar headers (the header bound, max_header_bytes=" +
                                              std::to_string(max_header_bytes_) + ")"};
    }
  }
  if (rc == ARCHIVE_EOF) return static_cast<archive_entry*>(nullptr);
  if (rc == ARCHIVE_WARN) {
    // Charset conversion warnings are expected: names are kept as raw bytes.
    const char* text = archive_error_string(archive_);
    std::string why = text ? text : "";
    if (why.find("can't be converted") == std::string::npos && why.find("Pathname") == std::string::npos &&
        why.find("Linkname") == std::string::npos) {
      return ArchiveError("reading an entry header");
    }
  } else if (rc != ARCHIVE_OK) {
    return ArchiveError(stream_error_ ? "reading" : "reading an entry header");
  }
  return entry;
}

namespace {

// The entry's type; an unknown one is refused unless the entry is a hardlink.
Result<void> ReadKind(archive_entry* entry, TarEntry& out, const std::string& layer) {
  switch (archive_entry_filetype(entry)) {
    case AE_IFDIR: out.kind = ipc::EntryKind::kDirectory; return {};
    case AE_IFLNK: out.kind = ipc::EntryKind::kSymlink; return {};
    case AE_IFCHR: out.kind = ipc::EntryKind::kCharDevice; return {};
    case AE_IFBLK: out.kind = ipc::EntryKind::kBlockDevice; return {};
    case AE_IFIFO: out.kind = ipc::EntryKind::kFifo; return {};
    case AE_IFSOCK: out.kind = ipc::EntryKind::kSocket; return {};
    case AE_IFREG: out.kind = ipc::EntryKind::kRegular; return {};
    default:
      if (out.hardlink) return {};
      return Error{ErrorCode::kMalformed, layer + ": entry '" + Printable(out.path) + "' has an unknown file type"};
  }
}

// Owner, times, size and device numbers. Values ext4 cannot hold are refused here,
// where the layer and path are known (ipc/ext4_limits.h); the kernel would never have
// stored them either.
Result<void> ReadAttributes(archive_entry* entry, TarEntry& out, const std::string& layer) {
  auto refuse = [&](const std::string& why) {
    return Error{ErrorCode::kMalformed, layer + ": entry '" + Printable(out.path) + "' " + why};
  };
  out.mode = archive_entry_perm(entry) & 07777;
  int64_t uid = archive_entry_uid(entry), gid = archive_entry_gid(entry);
  if (uid < 0 || uid >= ipc::ext4::kInvalidId || gid < 0 || gid >= ipc::ext4::kInvalidId) {
    return refuse("has uid " + std::to_string(uid) + " / gid " + std::to_string(gid) +
                  ": ids run from 0 to 4294967294 (4294967295 is the kernel's invalid id)");
  }
  out.uid = static_cast<uint32_t>(uid);
  out.gid = static_cast<uint32_t>(gid);
  out.mtime = Time(archive_entry_mtime(entry), archive_entry_mtime_nsec(entry));
  out.atime = archive_entry_atime_is_set(entry) ? Time(archive_entry_atime(entry), archive_entry_atime_nsec(entry))
                                                : out.mtime;
  out.ctime = archive_entry_ctime_is_set(entry) ? Time(archive_entry_ctime(entry), archive_entry_ctime_nsec(entry))
                                                : out.mtime;
  int64_t size = archive_entry_size(entry);
  out.size = size < 0 ? 0 : static_cast<uint64_t>(size);
  if (out.kind == ipc::EntryKind::kRegular && !out.hardlink && out.size > ipc::ext4::kMaxFileSize) {
    return refuse("has size " + std::to_string(out.size) + ", over ext4's largest file (" +
                  std::to_string(ipc::ext4::kMaxFileSize) + " bytes, 16 TiB - 4 KiB)");
  }
  if (out.kind == ipc::EntryKind::kCharDevice || out.kind == ipc::EntryKind::kBlockDevice) {
    // PAX device numbers are 64-bit; dev_t and ext4 keep 12 bits of major, 20 of minor.
    const uint64_t major = archive_entry_rdevmajor(entry), minor = archive_entry_rdevminor(entry);
    if (major > ipc::ext4::kMaxDeviceMajor || minor > ipc::ext4::kMaxDeviceMinor) {
      return refuse("is device " + std::to_string(major) + ":" + std::to_string(minor) +
                    ", outside what Linux and ext4 hold (major 0-4095, minor 0-1048575)");
    }
    out.rdev_major = static_cast<uint32_t>(major);
    out.rdev_minor = static_cast<uint32_t>(minor);
  }
  return {};
}

}  // namespace

Result<std::optional<TarEntry>> TarReader::Next() {
  BANGER_ASSIGN_OR_RETURN(archive_entry * entry, NextHeader());
  if (entry == nullptr) return std::optional<TarEntry>();
  TarEntry out;
  const char* path = archive_entry_pathname(entry);
  if (path == nullptr) return Error{ErrorCode::kMalformed, stream_.name() + ": an entry has no readable name"};
  out.path = path;
  if (const char* link = archive_entry_hardlink(entry)) out.hardlink = std::string(link);
  BANGER_TRY(ReadKind(entry, out, stream_.name()));
  BANGER_TRY(ReadAttributes(entry, out, stream_.name()));
  if (out.kind == ipc::EntryKind::kSymlink) {
    const char* target = archive_entry_symlink(entry);
    out.symlink_target = target ? target : "";
  }
  archive_entry_xattr_reset(entry);
  const char* name = nullptr;
  const void* value = nullptr;
  size_t value_size = 0;
  while (archive_entry_xattr_next(entry, &name, &value, &value_size) == ARCHIVE_OK) {
    out.xattrs.push_back({name ? name : "", std::string(static_cast<const char*>(value), value_size)});
  }
  return std::optional<TarEntry>(std::move(out));
}

Result<void> TarReader::ReadData(const DataSink& sink) {
  for (;;) {
    const void* block = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    int rc = archive_read_data_block(archive_, &block, &size, &offset);
    if (rc == ARCHIVE_EOF) return {};
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) return ArchiveError("reading file data");
    if (offset < 0) return Error{ErrorCode::kMalformed, stream_.name() + ": negative data offset"};
    if (size > 0) BANGER_TRY(sink(static_cast<uint64_t>(offset), static_cast<const char*>(block), size));
  }
}

}  // namespace banger::unpacker
