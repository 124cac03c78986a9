// What a request leaves in the audit log (docs/multi-tenant.md, "The audit log"). As
// root, a command that acts (pull, fetch, rm, prune, bundle, the system commands) writes a
// record when it is accepted, before it does anything, and one when it ends, with what it
// learnt on the way (the reference, digests, the image); both carry the request's id. A
// start record that cannot be written refuses the request. Each record's hash also goes to
// syslog (the config's audit_syslog), which anchors the chain outside the file.
#pragma once

#include <iosfwd>
#include <memory>
#include <streambuf>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "broker/host/config.h"
#include "broker/store/audit_log.h"

namespace banger::broker {

struct Requester;

class AuditTrail {
 public:
  // Opens the config's log (its directory held to the trusted-path rule) and writes the
  // start record of `request` ("image pull") run as `argv` for `requester`.
  static Result<AuditTrail> Begin(const Config& config, const std::string& config_path, const std::string& request,
                                  const std::vector<std::string>& argv, const Requester& requester);

  // A request refused before it started (the daemon's policy said no): one record, its
  // event "refused", with the reason.
  static Result<void> Refuse(const Config& config, const std::string& config_path, const std::string& request,
                             const std::vector<std::string>& argv, const Requester& requester, const std::string& reason);

  // Fields the end record carries; a later note of a key replaces an earlier one.
  void Note(const nlohmann::json& fields);
  // The end record: `exit_status`, and the error line when the command failed.
  Result<void> End(int exit_status, const std::string& error);
  // What the operator should hear (a syslog socket that refused a record's hash).
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  static Result<AuditTrail> Open(const Config& config, const std::string& config_path, const std::string& request,
                                 const std::vector<std::string>& argv, const Requester& requester);
  AuditTrail(AuditLog log, std::string syslog, nlohmann::json request)
      : log_(std::move(log)), syslog_(std::move(syslog)), request_(std::move(request)) {}
  Result<void> Write(nlohmann::json record);

  AuditLog log_;
  std::string syslog_;
  nlohmann::json request_;  // id, uid, user, pid and the request: in both records
  nlohmann::json notes_ = nlohmann::json::object();
  std::vector<std::string> warnings_;
};

}  // namespace banger::broker
