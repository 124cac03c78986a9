#include "ipc/tree_stream.h"

#include "base/fd.h"
#include "ipc/ext4_limits.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace banger::ipc {
namespace {

constexpr char kMagic[8] = {'B', 'N', 'G', 'R', 'T', 'R', 'E', '2'};
constexpr size_t kMaxRecord = 64 << 20;
constexpr size_t kFlushAt = 1 << 20;

void Put(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutBytes(std::string& out, const std::string& s, int length_bytes) {
  Put(out, s.size(), length_bytes);
  out.append(s);
}

class Decoder {
 public:
  explicit Decoder(std::string_view data) : data_(data) {}
  Result<uint64_t> Get(int bytes, const char* field) {
    if (data_.size() - pos_ < static_cast<size_t>(bytes)) {
      return Error{ErrorCode::kTruncated, std::string("tree record ends inside ") + field};
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= uint64_t{static_cast<uint8_t>(data_[pos_ + i])} << (8 * i);
    pos_ += bytes;
    return v;
  }
  Result<std::string> GetBytes(int length_bytes, size_t max, const char* field) {
    BANGER_ASSIGN_OR_RETURN(uint64_t n, Get(length_bytes, field));
    if (n > max) {
      return Error{ErrorCode::kOversized, std::string("tree record ") + field + " of " + std::to_string(n) +
                                              " bytes exceeds " + std::to_string(max)};
    }
    if (data_.size() - pos_ < n) return Error{ErrorCode::kTruncated, std::string("tree record ends inside ") + field};
    std::string out(data_.substr(pos_, n));
    pos_ += n;
    return out;
  }
  bool done() const { return pos_ == data_.size(); }

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

}  // namespace

const char* EntryKindName(EntryKind kind) {
  switch (kind) {
    case EntryKind::kDirectory: return "directory";
    case EntryKind::kRegular: return "regular file";
    case EntryKind::kSymlink: return "symlink";
    case EntryKind::kCharDevice: return "character device";
    case EntryKind::kBlockDevice: return "block device";
    case EntryKind::kFifo: return "fifo";
    case EntryKind::kSocket: return "socket";
    case EntryKind::kHardlink: return "hardlink";
  }
  return "unknown";
}

std::string EncodeTreeEntry(const TreeEntry& e) {
  std::string out;
  Put(out, static_cast<uint8_t>(e.kind), 1);
  Put(out, e.layer, 4);
  Put(out, e.inode, 8);
  Put(out, e.parent, 8);
  PutBytes(out, e.name, 2);
  Put(out, e.mode, 4);
  Put(out, e.uid, 4);
  Put(out, e.gid, 4);
  for (const Timestamp* t : {&e.mtime, &e.atime, &e.ctime}) {
    Put(out, static_cast<uint64_t>(t->sec), 8);
    Put(out, t->nsec, 4);
  }
  Put(out, e.size, 8);
  Put(out, e.rdev_major, 4);
  Put(out, e.rdev_minor, 4);
  PutBytes(out, e.link_target, 2);
  Put(out, e.xattrs.size(), 2);
  for (const Xattr& x : e.xattrs) {
    PutBytes(out, x.name, 2);
    PutBytes(out, x.value, 4);
  }
  Put(out, e.extents.size(), 4);
  for (const Extent& x : e.extents) {
    Put(out, x.file_offset, 8);
    Put(out, x.length, 8);
    Put(out, x.spool_offset, 8);
  }
  Put(out, e.children, 8);
  return out;
}

namespace {

// Kind, layer, inode, parent, name, mode, owner, times, size, device and link target:
// each refused when ext4 would store it as another value (ipc/ext4_limits.h).
Result<void> DecodeAttributes(Decoder& d, const TreeStreamLimits& limits, TreeEntry& e) {
  BANGER_ASSIGN_OR_RETURN(uint64_t kind, d.Get(1, "kind"));
  if (kind < 1 || kind > 8) return Error{ErrorCode::kMalformed, "tree record has unknown kind " + std::to_string(kind)};
  e.kind = static_cast<EntryKind>(kind);
  BANGER_ASSIGN_OR_RETURN(uint64_t layer, d.Get(4, "layer"));
  e.layer = static_cast<uint32_t>(layer);
  BANGER_ASSIGN_OR_RETURN(e.inode, d.Get(8, "inode"));
  BANGER_ASSIGN_OR_RETURN(e.parent, d.Get(8, "parent"));
  BANGER_ASSIGN_OR_RETURN(e.name, d.GetBytes(2, limits.max_name, "name"));
  BANGER_ASSIGN_OR_RETURN(uint64_t mode, d.Get(4, "mode"));
  if (mode > 07777) return Error{ErrorCode::kMalformed, "tree record has mode bits outside 07777"};
  e.mode = static_cast<uint32_t>(mode);
  BANGER_ASSIGN_OR_RETURN(uint64_t uid, d.Get(4, "uid"));
  BANGER_ASSIGN_OR_RETURN(uint64_t gid, d.Get(4, "gid"));
  if (uid == ext4::kInvalidId || gid == ext4::kInvalidId) {
    return Error{ErrorCode::kMalformed, "tree record has the invalid id 4294967295"};
  }
  e.uid = static_cast<uint32_t>(uid);
  e.gid = static_cast<uint32_t>(gid);
  for (Timestamp* t : {&e.mtime, &e.atime, &e.ctime}) {
    BANGER_ASSIGN_OR_RETURN(uint64_t sec, d.Get(8, "time"));
    BANGER_ASSIGN_OR_RETURN(uint64_t nsec, d.Get(4, "time"));
    if (nsec >= 1'000'000'000) return Error{ErrorCode::kMalformed, "tree record has nanoseconds over 1e9"};
    t->sec = static_cast<int64_t>(sec);
    t->nsec = static_cast<uint32_t>(nsec);
    if (!ext4::TimeFits(*t)) return Error{ErrorCode::kMalformed, "tree record has a time ext4 cannot hold"};
  }
  BANGER_ASSIGN_OR_RETURN(e.size, d.Get(8, "size"));
  if (e.size > ext4::kMaxFileSize) return Error{ErrorCode::kMalformed, "tree record has a size ext4 cannot hold"};
  BANGER_ASSIGN_OR_RETURN(uint64_t major, d.Get(4, "rdev"));
  BANGER_ASSIGN_OR_RETURN(uint64_t minor, d.Get(4, "rdev"));
  if (major > ext4::kMaxDeviceMajor || minor > ext4::kMaxDeviceMinor) {
    return Error{ErrorCode::kMalformed, "tree record has a device number outside 4095:1048575"};
  }
  e.rdev_major = static_cast<uint32_t>(major);
  e.rdev_minor = static_cast<uint32_t>(minor);
  BANGER_ASSIGN_OR_RETURN(e.link_target, d.GetBytes(2, limits.max_link_target, "link target"));
  return {};
}

Result<void> DecodeXattrs(Decoder& d, const TreeStreamLimits& limits, TreeEntry& e) {
  BANGER_ASSIGN_OR_RETURN(uint64_t xattr_count, d.Get(2, "xattr count"));
  size_t xattr_bytes = 0;
  for (uint64_t i = 0; i < xattr_count; ++i) {
    Xattr x;
    BANGER_ASSIGN_OR_RETURN(x.name, d.GetBytes(2, 255, "xattr name"));
    BANGER_ASSIGN_OR_RETURN(x.value, d.GetBytes(4, limits.max_xattrs_bytes, "xattr value"));
    xattr_bytes += x.name.size() + x.value.size();
    if (xattr_bytes > limits.max_xattrs_bytes) {
      return Error{ErrorCode::kOversized, "tree record xattrs exceed " + std::to_string(limits.max_xattrs_bytes) + " bytes"};
    }
    e.xattrs.push_back(std::move(x));
  }
  return {};
}

// Extents are sorted, disjoint, non-empty and inside the file.
Result<void> DecodeExtents(Decoder& d, const TreeStreamLimits& limits, TreeEntry& e) {
  BANGER_ASSIGN_OR_RETURN(uint64_t extent_count, d.Get(4, "extent count"));
  if (extent_count > limits.max_extents) return Error{ErrorCode::kOversized, "tree record has too many extents"};
  uint64_t end_of_previous = 0;
  for (uint64_t i = 0; i < extent_count; ++i) {
    Extent x;
    BANGER_ASSIGN_OR_RETURN(x.file_offset, d.Get(8, "extent"));
    BANGER_ASSIGN_OR_RETURN(x.length, d.Get(8, "extent"));
    BANGER_ASSIGN_OR_RETURN(x.spool_offset, d.Get(8, "extent"));
    if (x.length == 0 || x.file_offset < end_of_previous || x.file_offset + x.length < x.file_offset ||
        x.file_offset + x.length > e.size || x.spool_offset + x.length < x.spool_offset) {
      return Error{ErrorCode::kMalformed, "tree record has an extent out of order or outside its file"};
    }
    end_of_previous = x.file_offset + x.length;
    e.extents.push_back(x);
  }
  return {};
}

// Shape rules every consumer relies on.
Result<void> CheckShape(const TreeEntry& e) {
  const bool is_root = e.inode == kRootInode;
  if (is_root != e.name.empty() || is_root != (e.parent == 0) || (is_root && e.kind != EntryKind::kDirectory)) {
    return Error{ErrorCode::kMalformed, "tree record: only the root has no name and no parent"};
  }
  if (!is_root && (e.name == "." || e.name == ".." || e.name.find('/') != std::string::npos ||
                   e.name.find('\0') != std::string::npos)) {
    return Error{ErrorCode::kMalformed, "tree record has an invalid name component"};
  }
  if (e.kind != EntryKind::kRegular && !e.extents.empty()) {
    return Error{ErrorCode::kMalformed, "tree record: only regular files have extents"};
  }
  if (e.kind == EntryKind::kSymlink && (e.link_target.empty() || e.link_target.find('\0') != std::string::npos)) {
    return Error{ErrorCode::kMalformed, "tree record: a symlink needs a target without NUL bytes"};
  }
  if (e.kind != EntryKind::kDirectory && e.children != 0) {
    return Error{ErrorCode::kMalformed, "tree record: only directories have children"};
  }
  return {};
}

}  // namespace

Result<TreeEntry> DecodeTreeEntry(std::string_view record, const TreeStreamLimits& limits) {
  Decoder d(record);
  TreeEntry e;
  BANGER_TRY(DecodeAttributes(d, limits, e));
  BANGER_TRY(DecodeXattrs(d, limits, e));
  BANGER_TRY(DecodeExtents(d, limits, e));
  BANGER_ASSIGN_OR_RETURN(e.children, d.Get(8, "children"));
  if (!d.done()) return Error{ErrorCode::kMalformed, "tree record has trailing bytes"};
  BANGER_TRY(CheckShape(e));
  return e;
}

Result<void> TreeStreamWriter::Flush() {
  BANGER_TRY(WriteAll(fd_, buffer_, "writing the tree stream"));
  buffer_.clear();
  return {};
}

Result<void> TreeStreamWriter::WriteSummary(const TreeSummary& s) {
  buffer_.append(kMagic, sizeof kMagic);
  for (uint64_t v : {s.entries, s.inodes, s.directories, s.data_bytes, s.apparent_bytes, s.metadata_bytes,
                     s.largest_directory}) {
    Put(buffer_, v, 8);
  }
  return {};
}

Result<void> TreeStreamWriter::Write(const TreeEntry& entry) {
  std::string record = EncodeTreeEntry(entry);
  Put(buffer_, record.size(), 4);
  buffer_.append(record);
  if (buffer_.size() >= kFlushAt) return Flush();
  return {};
}

Result<void> TreeStreamWriter::Finish() {
  Put(buffer_, 0, 4);
  return Flush();
}

Result<void> TreeStreamReader::ReadExactly(void* out, size_t size) {
  char* dst = static_cast<char*>(out);
  while (size > 0) {
    if (buffer_pos_ == buffer_.size()) {
      buffer_.resize(1 << 20);
      ssize_t n;
      do {
        n = ::read(fd_, buffer_.data(), buffer_.size());
      } while (n < 0 && errno == EINTR);
      if (n < 0) return Error::FromErrno("reading the tree stream");
      if (n == 0) return Error{ErrorCode::kTruncated, "the tree stream ended early (the unpacker stopped?)"};
      buffer_.resize(static_cast<size_t>(n));
      buffer_pos_ = 0;
    }
    size_t take = std::min(size, buffer_.size() - buffer_pos_);
    std::memcpy(dst, buffer_.data() + buffer_pos_, take);
    buffer_pos_ += take;
    dst += take;
    size -= take;
  }
  return {};
}

Result<TreeSummary> TreeStreamReader::ReadSummary() {
  char header[sizeof kMagic + 7 * 8];
  BANGER_TRY(ReadExactly(header, sizeof header));
  if (std::memcmp(header, kMagic, sizeof kMagic) != 0) {
    return Error{ErrorCode::kMalformed, "the tree stream does not start with its magic"};
  }
  Decoder d(std::string_view(header + sizeof kMagic, 7 * 8));
  TreeSummary s;
  for (uint64_t* v : {&s.entries, &s.inodes, &s.directories, &s.data_bytes, &s.apparent_bytes, &s.metadata_bytes,
                      &s.largest_directory}) {
    BANGER_ASSIGN_OR_RETURN(*v, d.Get(8, "summary"));
  }
  if (s.entries > limits_.max_entries || s.inodes > s.entries || s.directories > s.inodes) {
    return Error{ErrorCode::kMalformed, "the tree stream's summary is inconsistent"};
  }
  return s;
}

Result<std::optional<TreeEntry>> TreeStreamReader::Next() {
  uint8_t length_bytes[4];
  BANGER_TRY(ReadExactly(length_bytes, 4));
  uint32_t length = uint32_t{length_bytes[0]} | uint32_t{length_bytes[1]} << 8 | uint32_t{length_bytes[2]} << 16 |
                    uint32_t{length_bytes[3]} << 24;
  if (length == 0) return std::optional<TreeEntry>();
  if (length > kMaxRecord) return Error{ErrorCode::kOversized, "tree record of " + std::to_string(length) + " bytes"};
  if (++records_ > limits_.max_entries) return Error{ErrorCode::kOversized, "the tree stream has too many records"};
  std::string record(length, '\0');
  BANGER_TRY(ReadExactly(record.data(), length));
  BANGER_ASSIGN_OR_RETURN(TreeEntry entry, DecodeTreeEntry(record, limits_));
  return std::optional<TreeEntry>(std::move(entry));
}

}  // namespace banger::ipc
