#include "broker/cli/audit_trail.h"

#include <sys/random.h>
#include <unistd.h>

#include <array>
#include <ostream>

#include "base/digest.h"
#include "broker/host/syslog.h"
#include "broker/cli/context.h"
#include "broker/host/trusted_paths.h"
#include "broker/pull/pull.h"
#include "broker/store/files.h"

namespace banger::broker {
namespace {

using nlohmann::json;

Result<std::string> NewRequestId() {
  std::array<unsigned char, 16> bytes{};
  if (::getrandom(bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size())) {
    return Error::FromErrno("getrandom for a request id");
  }
  return HexEncode(bytes.data(), bytes.size());
}

constexpr size_t kMaxFieldBytes = 1024;  // a string a record carries from a request

std::string Bounded(const std::string& text) {
  return text.size() > kMaxFieldBytes ? text.substr(0, kMaxFieldBytes) + "...(cut)" : text;
}

// The argv a record carries, bounded (64 arguments, 4 KiB in all): a record stays small
// whatever a client sends.
json BoundedArgv(const std::vector<std::string>& argv) {
  constexpr size_t kMaxArgs = 64, kMaxArgvBytes = 4096;
  json out = json::array();
  size_t bytes = 0, i = 0;
  for (; i < argv.size() && i < kMaxArgs && bytes < kMaxArgvBytes; ++i) {
    out.push_back(Bounded(argv[i]));
    bytes += out.back().get_ref<const std::string&>().size();
  }
  if (i < argv.size()) out.push_back("...(" + std::to_string(argv.size() - i) + " more arguments)");
  return out;
}

}  // namespace

Result<AuditTrail> AuditTrail::Open(const Config& config, const std::string& config_path, const std::string& request,
                                    const std::vector<std::string>& argv, const Requester& requester) {
  const std::string& path = config.audit_log;
  BANGER_TRY(CheckTrustedPath(DirectoryOf(path), config_path + ": audit_log"));
  BANGER_ASSIGN_OR_RETURN(AuditLog log, AuditLog::Open(path));
  BANGER_ASSIGN_OR_RETURN(std::string id, NewRequestId());
  json fields = {{"id", id},           {"uid", requester.uid},  {"user", Bounded(requester.user)}, {"pid", requester.pid},
                 {"request", request}, {"argv", BoundedArgv(argv)}};
  if (requester.through_daemon) {
    fields["via"] = "bangerd";
    fields["peer_command"] = Bounded(requester.command);
    fields["admin"] = requester.admin;
  }
  return AuditTrail(std::move(log), config.audit_syslog, std::move(fields));
}

Result<AuditTrail> AuditTrail::Begin(const Config& config, const std::string& config_path, const std::string& request,
                                     const std::vector<std::string>& argv, const Requester& requester) {
  BANGER_ASSIGN_OR_RETURN(AuditTrail trail, Open(config, config_path, request, argv, requester));
  BANGER_TRY(trail.Write({{"event", "start"}}));
  return trail;
}

Result<void> AuditTrail::Refuse(const Config& config, const std::string& config_path, const std::string& request,
                                const std::vector<std::string>& argv, const Requester& requester,
                                const std::string& reason) {
  auto trail = Open(config, config_path, request, argv, requester);
  if (!trail) return trail.error();
  return trail->Write({{"event", "refused"}, {"result", "refused"}, {"exit_status", 1}, {"error", Bounded(reason)}});
}

void AuditTrail::Note(const json& fields) {
  for (const auto& [key, value] : fields.items()) notes_[key] = value.is_string() ? json(Bounded(value)) : value;
}

Result<void> AuditTrail::End(int exit_status, const std::string& error) {
  json record = notes_;
  record["event"] = "end";
  record["exit_status"] = exit_status;
  record["result"] = exit_status == 0 ? "ok" : "error";
  if (!error.empty()) record["error"] = Bounded(error);
  auto written = Write(record);
  if (written || written.error().code != ErrorCode::kOversized) return written;
  // Too large with its notes (a long list of removed images): the end, without them.
  return Write({{"event", "end"}, {"exit_status", exit_status}, {"result", record["result"]},
                {"notes", "dropped: the record would have been over the audit log's bound"}});
}

Result<void> AuditTrail::Write(json record) {
  for (const auto& [key, value] : request_.items()) record[key] = value;
  record["time"] = UtcNow();
  BANGER_ASSIGN_OR_RETURN(AuditRecordWritten written, log_.Append(std::move(record)));
  if (syslog_.empty()) return {};
  auto sent = SendToSyslog(syslog_, "banger-audit",
                           "seq=" + std::to_string(written.seq) + " sha256=" + written.hash + " log=" + log_.path());
  // No socket at all is a host without syslog (system status says so); one that refuses
  // is worth a word.
  if (!sent && sent.error().code != ErrorCode::kNotFound) {
    warnings_.push_back("the audit record " + std::to_string(written.seq) + " is in " + log_.path() +
                        " but its hash did not reach syslog: " + sent.error().message);
  }
  return {};
}

}  // namespace banger::broker
