#include "broker/store/audit_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>

#include "base/digest.h"
#include "base/json.h"
#include "base/sha256.h"
#include "broker/store/files.h"

namespace banger::broker {
namespace {

Result<UniqueFd> OpenForAppend(const std::string& path) {
  // Read-write: the last record is read back through the same open file it was appended
  // to, whatever the path names by then.
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return Error::FromErrno("opening the audit log " + path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Error::FromErrno("fstat " + path);
  if (!S_ISREG(st.st_mode)) return Error{ErrorCode::kInvalidArgument, "the audit log " + path + " is not a regular file"};
  return fd;
}

// "SEQ HASH\n", what the lock file keeps of the last record.
Result<std::pair<uint64_t, std::string>> ParseLockedHead(std::string_view text) {
  const size_t space = text.find(' ');
  uint64_t seq = 0;
  if (space == std::string_view::npos ||
      std::from_chars(text.data(), text.data() + space, seq).ptr != text.data() + space) {
    return Error{ErrorCode::kMalformed, "no sequence number"};
  }
  std::string_view hash = text.substr(space + 1);
  if (!hash.empty() && hash.back() == '\n') hash.remove_suffix(1);
  if (hash.size() != 64 || hash.find_first_not_of("0123456789abcdef") != std::string_view::npos) {
    return Error{ErrorCode::kMalformed, "no sha256"};
  }
  return std::make_pair(seq, std::string(hash));
}

}  // namespace

std::string AuditChainStart() { return std::string(64, '0'); }

std::string AuditLineHash(std::string_view line) {
  const Sha256Bytes hash = Sha256Of(line);
  return HexEncode(hash.data(), hash.size());
}

Result<AuditLog> AuditLog::Open(const std::string& path) {
  if (path.empty() || path[0] != '/') return Error{ErrorCode::kInvalidArgument, "the audit log wants an absolute path, not '" + path + "'"};
  // The root directory is never made private.
  if (const std::string dir = DirectoryOf(path); dir != "/") BANGER_TRY(MakePrivateDirs(dir));
  BANGER_ASSIGN_OR_RETURN(UniqueFd file, OpenForAppend(path));
  return AuditLog(path, std::move(file));
}

// logrotate renames the log and the next record starts a new file at the same path.
Result<void> AuditLog::ReopenIfMoved() {
  struct stat open_file {}, at_path {};
  if (::fstat(file_.get(), &open_file) != 0) return Error::FromErrno("fstat " + path_);
  if (::lstat(path_.c_str(), &at_path) == 0 && at_path.st_dev == open_file.st_dev && at_path.st_ino == open_file.st_ino) {
    return {};
  }
  BANGER_ASSIGN_OR_RETURN(file_, OpenForAppend(path_));
  return {};
}

// The last line of the file (which holds `size` bytes): its seq and its hash.
Result<AuditLog::Head> AuditLog::LastRecordOfFile(uint64_t size) const {
  const uint64_t window = std::min<uint64_t>(size, kMaxAuditRecordBytes + 1);
  std::string tail(window, '\0');
  if (::pread(file_.get(), tail.data(), window, static_cast<off_t>(size - window)) != static_cast<ssize_t>(window)) {
    return Error::FromErrno("reading the end of the audit log " + path_);
  }
  if (tail.back() != '\n') {
    return Error{ErrorCode::kMalformed, "the audit log " + path_ +
                                            " ends in the middle of a record (a crash while writing?); an operator "
                                            "must look at it before banger appends to it"};
  }
  tail.pop_back();
  const size_t start = tail.rfind('\n');
  if (start == std::string::npos && window < size) {
    return Error{ErrorCode::kMalformed, "the last record of the audit log " + path_ + " is longer than a record may be"};
  }
  const std::string line = tail.substr(start == std::string::npos ? 0 : start + 1);
  auto record = ParseJsonBounded(line, 8);
  if (!record || !record->is_object() || !record->contains("seq") || !(*record)["seq"].is_number_unsigned()) {
    return Error{ErrorCode::kMalformed, "the last record of the audit log " + path_ + " has no seq"};
  }
  return Head{(*record)["seq"].get<uint64_t>(), AuditLineHash(line)};
}

// The record the next one follows: the file's last, else (a new or rotated file) the one
// the lock file remembers, else the chain's start.
Result<AuditLog::Head> AuditLog::ReadHead(int lock_fd) const {
  struct stat st {};
  if (::fstat(file_.get(), &st) != 0) return Error::FromErrno("fstat " + path_);
  if (st.st_size > 0) return LastRecordOfFile(static_cast<uint64_t>(st.st_size));
  BANGER_ASSIGN_OR_RETURN(std::string locked, ReadWholeFd(lock_fd, 256, path_ + ".lock"));
  if (locked.empty()) return Head{0, AuditChainStart()};
  auto head = ParseLockedHead(locked);
  if (!head) return Error{ErrorCode::kMalformed, path_ + ".lock does not hold the last record's seq and hash: " + head.error().message};
  return Head{head->first, head->second};
}

Result<AuditRecordWritten> AuditLog::Append(nlohmann::json record) {
  if (!record.is_object() || record.contains("seq") || record.contains("prev")) {
    return Error{ErrorCode::kInvalidArgument, "an audit record is an object without seq or prev"};
  }
  BANGER_ASSIGN_OR_RETURN(UniqueFd lock, LockFile(path_ + ".lock", LOCK_EX));
  BANGER_TRY(ReopenIfMoved());
  BANGER_ASSIGN_OR_RETURN(Head head, ReadHead(lock.get()));
  record["seq"] = head.seq + 1;
  record["prev"] = head.hash;
  const std::string line = DumpJson(record);
  if (line.size() > kMaxAuditRecordBytes) {
    return Error{ErrorCode::kOversized, "an audit record of " + std::to_string(line.size()) + " bytes (at most " +
                                            std::to_string(kMaxAuditRecordBytes) + ")"};
  }
  BANGER_TRY(WriteAll(file_.get(), line + "\n", "appending to the audit log " + path_));
  BANGER_TRY(FsyncFd(file_.get(), "the audit log " + path_));
  AuditRecordWritten written{head.seq + 1, AuditLineHash(line)};
  const std::string remembered = std::to_string(written.seq) + " " + written.hash + "\n";
  if (::ftruncate(lock.get(), 0) != 0) return Error::FromErrno("ftruncate " + path_ + ".lock");
  BANGER_TRY(PwriteAll(lock.get(), remembered, 0, path_ + ".lock"));
  BANGER_TRY(FsyncFd(lock.get(), path_ + ".lock"));
  return written;
}

}  // namespace banger::broker
