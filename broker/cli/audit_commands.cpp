// `banger system audit verify`: the audit log's hash chain, checked (broker/store/audit_chain.h).
#include <ostream>

#include <nlohmann/json.hpp>

#include "base/json.h"
#include "broker/cli/commands.h"
#include "broker/cli/exit_codes.h"
#include "broker/cli/output.h"
#include "broker/store/audit_chain.h"

namespace banger::broker {
namespace {

constexpr const char* kVerifyUsage =
    "usage: banger system audit verify [--head HASH] [--json] [FILE...]\n"
    "\n"
    "Checks the audit log's hash chain: each record's seq must be one more than the record\n"
    "before, and its prev the sha256 of the line before. FILE... are the log's files oldest\n"
    "first (audit.log.2 audit.log.1 audit.log after rotations); without one, the config's\n"
    "audit_log. The first broken link (an edited, deleted or reordered record, or a line cut\n"
    "short) is named with its file and line, and the exit status is 1.\n"
    "\n"
    "  --head HASH  a record hash from outside the file (banger sends each one to syslog):\n"
    "               the log must hold that record, else it was cut short or edited\n"
    "  --json       the result as one JSON event, and an error as an event (docs/cli.md)\n";

bool IsSha256Hex(const std::string& text) {
  return text.size() == 64 && text.find_first_not_of("0123456789abcdef") == std::string::npos;
}

int VerifyAuditLog(const CliContext& context, const ParsedFlags& flags, std::ostream& out, std::ostream& err) {
  const std::string head = flags.Value("--head").value_or("");
  if (!head.empty() && !IsSha256Hex(head)) {
    return ReportUsage(err, "--head wants a record's sha256 as 64 lowercase hex digits", "system audit verify");
  }
  const std::vector<std::string> files =
      flags.positional.empty() ? std::vector<std::string>{context.config.audit_log} : flags.positional;
  auto verified = VerifyAuditChain(files, head);
  if (!verified) {
    if (flags.Has("--json")) EmitJsonEvent(out, {{"event", "result"}, {"verified", false}});
    ReportError(err, verified.error(), "");
    return kExitError;
  }
  if (flags.Has("--json")) {
    EmitJsonEvent(out, {{"event", "result"},
                        {"verified", true},
                        {"records", verified->records},
                        {"first_seq", verified->first_seq},
                        {"last_seq", verified->last_seq},
                        {"head", verified->head}});
    return kExitOk;
  }
  out << "audit log verified: " << verified->records << " record(s), " << verified->first_seq << " to "
      << verified->last_seq << ", head " << verified->head << "\n";
  if (verified->first_seq > 1) {
    out << "the chain's records before " << verified->first_seq << " are not in these files\n";
  }
  return kExitOk;
}

}  // namespace

const Command& SystemAuditVerifyCommand() {
  static const Command command{
      {"system audit verify", kVerifyUsage, {{"--head"}, {"--json"}}, {0, 64, "takes the log's files, oldest first"}},
      /*reads_config=*/true, VerifyAuditLog};
  return command;
}

}  // namespace banger::broker
