// Checks the audit log's hash chain (audit_log.h): the files in order, as one chain.
// Each record must be a JSON object whose "seq" is one more than the record before and
// whose "prev" is the sha256 of the line before; so an edited record breaks the link of
// the line after it, a deleted or reordered one the link where it was, and a file cut
// short loses the head an outside anchor (syslog) recorded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace banger::broker {

struct AuditChainSummary {
  uint64_t records = 0;
  uint64_t first_seq = 0;  // 1 when the files hold the chain from its start
  uint64_t last_seq = 0;
  std::string head;        // the sha256 (hex) of the last record's line
};

// The first broken link is a kMalformed error naming "FILE line N" and what is wrong.
// `head`, when not empty, is a record hash taken from outside the file (syslog): the
// chain must hold a record with that hash, or it was cut short (or edited).
Result<AuditChainSummary> VerifyAuditChain(const std::vector<std::string>& files, const std::string& head);

}  // namespace banger::broker
