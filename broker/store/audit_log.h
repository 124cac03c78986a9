// The audit log's writer (docs/multi-tenant.md, "The audit log"): one JSON line per
// record, appended under an flock of PATH.lock and fsync'd before Append returns, so a
// process killed mid-request still leaves the records it wrote. Each record carries
// "seq" (one more than the record before) and "prev" (the sha256, in hex, of the exact
// bytes of the line before, without its newline): a hash chain whose first record has
// seq 1 and a prev of 64 zeros. The lock file keeps the last record's seq and hash, so
// when logrotate has moved the log away, the first record of the new file continues the
// chain. audit_chain.h checks it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "base/result.h"

namespace banger::broker {

// The longest record line; a longer one is refused when written and broken when read.
inline constexpr size_t kMaxAuditRecordBytes = 64 * 1024;

// What one Append wrote: the record's number and the sha256 (hex) of its line, which the
// caller anchors outside the file (syslog).
struct AuditRecordWritten {
  uint64_t seq = 0;
  std::string hash;
};

class AuditLog {
 public:
  // Opens the log at the absolute `path`, creating it 0600 (and its missing parents 0700).
  static Result<AuditLog> Open(const std::string& path);

  // Appends `record`, an object without "seq" or "prev" (Append sets them), as one line.
  // Each call appends to the file at the log's path: one that logrotate moved away since
  // the last call is left alone and the new one created.
  Result<AuditRecordWritten> Append(nlohmann::json record);

  const std::string& path() const { return path_; }

 private:
  struct Head {
    uint64_t seq = 0;
    std::string hash;
  };

  AuditLog(std::string path, UniqueFd file) : path_(std::move(path)), file_(std::move(file)) {}
  Result<void> ReopenIfMoved();
  Result<Head> ReadHead(int lock_fd) const;
  Result<Head> LastRecordOfFile(uint64_t size) const;

  std::string path_;
  UniqueFd file_;
};

// The chain's start: what "prev" holds in record 1.
std::string AuditChainStart();
// What "prev" holds for the record after `line` (its exact bytes, without the newline):
// its sha256 in hex.
std::string AuditLineHash(std::string_view line);

}  // namespace banger::broker
