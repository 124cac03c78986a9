#include "broker/store/audit_chain.h"

#include <fcntl.h>
#include <unistd.h>

#include <optional>

#include "base/fd.h"
#include "base/json.h"
#include "broker/store/audit_log.h"

namespace banger::broker {
namespace {

// The lines of a file, each at most kMaxAuditRecordBytes, read in blocks.
class LineReader {
 public:
  static Result<LineReader> Open(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return Error::FromErrno("opening " + path);
    return LineReader(std::move(fd));
  }

  // The next line without its newline; nothing at the end. A last line without a newline
  // is `cut_short`.
  Result<std::optional<std::string>> Next(bool* cut_short) {
    for (;;) {
      const size_t newline = buffer_.find('\n', start_);
      if (newline != std::string::npos) {
        std::string line = buffer_.substr(start_, newline - start_);
        start_ = newline + 1;
        return std::optional<std::string>(std::move(line));
      }
      if (buffer_.size() - start_ > kMaxAuditRecordBytes) return Error{ErrorCode::kOversized, "a line longer than a record may be"};
      buffer_.erase(0, start_);
      start_ = 0;
      char block[65536];
      const ssize_t got = ::read(fd_.get(), block, sizeof block);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) return Error::FromErrno("read");
      if (got == 0) {
        if (buffer_.empty()) return std::optional<std::string>();
        *cut_short = true;
        return std::optional<std::string>(std::exchange(buffer_, {}));
      }
      buffer_.append(block, static_cast<size_t>(got));
    }
  }

 private:
  explicit LineReader(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
  std::string buffer_;
  size_t start_ = 0;
};

struct Link {
  uint64_t seq = 0;
  std::string prev;
};

std::optional<Link> LinkOf(const std::string& line) {
  auto record = ParseJsonBounded(line, 8);
  if (!record || !record->is_object()) return std::nullopt;
  const auto seq = record->find("seq");
  const auto prev = record->find("prev");
  if (seq == record->end() || !seq->is_number_unsigned() || prev == record->end() || !prev->is_string()) return std::nullopt;
  const std::string hash = prev->get<std::string>();
  if (hash.size() != 64 || hash.find_first_not_of("0123456789abcdef") != std::string::npos) return std::nullopt;
  return Link{seq->get<uint64_t>(), hash};
}

class ChainWalk {
 public:
  explicit ChainWalk(std::string head) : wanted_head_(std::move(head)) {}

  Result<void> File(const std::string& path) {
    BANGER_ASSIGN_OR_RETURN(LineReader lines, LineReader::Open(path));
    for (uint64_t number = 1;; ++number) {
      bool cut_short = false;
      auto line = lines.Next(&cut_short);
      const std::string where = path + " line " + std::to_string(number) + ": ";
      if (!line) return Error{ErrorCode::kMalformed, where + line.error().message};
      if (!*line) return {};
      if (cut_short) return Error{ErrorCode::kMalformed, where + "the record is cut short (no newline)"};
      BANGER_TRY(Record(**line, where));
    }
  }

  Result<AuditChainSummary> Finish() const {
    if (summary_.records == 0) return Error{ErrorCode::kMalformed, "the audit log holds no record"};
    if (!wanted_head_.empty() && !head_seen_) {
      return Error{ErrorCode::kMalformed, "the audit log does not reach the head " + wanted_head_ +
                                              ": it ends at record " + std::to_string(summary_.last_seq) +
                                              " (cut short, or edited)"};
    }
    return summary_;
  }

 private:
  Result<void> Record(const std::string& line, const std::string& where) {
    const std::optional<Link> link = LinkOf(line);
    if (!link) return Error{ErrorCode::kMalformed, where + "not an audit record (a JSON object with seq and prev)"};
    if (summary_.records == 0) {
      if (link->seq == 0 || (link->seq == 1 && link->prev != AuditChainStart())) {
        return Error{ErrorCode::kMalformed, where + "record " + std::to_string(link->seq) + " cannot start a chain"};
      }
      summary_.first_seq = link->seq;
    } else if (link->seq != summary_.last_seq + 1) {
      return Error{ErrorCode::kMalformed, where + "record " + std::to_string(link->seq) + " follows record " +
                                              std::to_string(summary_.last_seq) + " (records deleted or reordered)"};
    } else if (link->prev != summary_.head) {
      return Error{ErrorCode::kMalformed, where + "its prev is not the hash of the record before (that record was "
                                                  "changed, or records between them removed)"};
    }
    summary_.head = AuditLineHash(line);
    summary_.last_seq = link->seq;
    ++summary_.records;
    head_seen_ = head_seen_ || summary_.head == wanted_head_;
    return {};
  }

  std::string wanted_head_;
  bool head_seen_ = false;
  AuditChainSummary summary_;
};

}  // namespace

Result<AuditChainSummary> VerifyAuditChain(const std::vector<std::string>& files, const std::string& head) {
  if (files.empty()) return Error{ErrorCode::kInvalidArgument, "no audit log file to verify"};
  ChainWalk walk(head);
  for (const std::string& file : files) BANGER_TRY(walk.File(file));
  return walk.Finish();
}

}  // namespace banger::broker
