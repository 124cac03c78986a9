// What every command starts from: the process environment, read here once (the only
// getenv calls in the broker), and the config file it names. Lower rooms get what they
// need of it as arguments (docs/architecture.md, "The broker's rooms").
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "broker/host/config.h"
#include "broker/host/environment.h"
#include "broker/host/helpers.h"
#include "broker/registry/catalog.h"
#include "broker/registry/credentials.h"
#include "broker/trust/trust_policy.h"

namespace banger::broker {

// The environment of this process.
HostEnvironment CaptureEnvironment();

class AuditTrail;

// Who asked for a command: this process's own user, or, in bangerd, the peer the kernel
// named on the daemon's socket (SO_PEERCRED; never anything the request says).
struct Requester {
  uint32_t uid = 0;
  uint32_t gid = 0;
  int pid = 0;
  std::string user;     // the uid's name, "" when it has none
  std::vector<uint32_t> gids;  // its primary and supplementary groups
  std::string command;  // the peer's command line as /proc showed it (for the audit log)
  bool admin = false;   // root, or a member of the config's admin_group
  bool through_daemon = false;
  // Through the daemon: the credentials the client sent for one registry, used for that
  // registry in this request only (never logged, never stored).
  std::string credentials_registry;
  RegistryCredentials credentials;
};

// This process's own requester (getuid, getpid).
Requester LocalRequester(const std::vector<std::string>& argv);

struct CliContext {
  HostEnvironment env;
  std::string config_path;  // the config file in use (it may not exist)
  Config config;
  // The audit trail of this request when it has one (root, a command that acts): a
  // command notes what its end record should say (the reference, digests, the image).
  AuditTrail* audit = nullptr;
  Requester requester;
  // Through bangerd: the file the client created for `image bundle --out` and passed
  // (the client publishes it); -1 when there is none.
  int client_file = -1;

  // A request bangerd serves for someone who is not an admin: it acts on their own
  // images only, with no credentials of root's, within the host's bounds.
  bool tenant() const { return requester.through_daemon && !requester.admin; }

  // Adds `fields` to this request's end record, when it has an audit trail.
  void Note(const nlohmann::json& fields) const;

  // The requester's images: root's state dir, or through the daemon a user's own
  // <state>/tenants/<uid>.
  std::string StateRoot() const;
  // Where a tenant's images are (an admin reaches them as OWNER/NAME).
  std::string TenantStateRoot(uint32_t uid) const;
  std::string CacheRoot() const;
  // How helpers start for this banger: beside it, as the config's user (as root with
  // helper_uids, as a uid this command claims from the range and holds while the
  // settings live), stopped by SIGINT and SIGTERM once security::InstallStopSignals ran.
  Result<HelperLauncher::Settings> Helpers() const;
  // The catalog sources; as root, a --catalog path must be one only root can change
  // (host/trusted_paths.h).
  Result<CatalogSources> Catalog(const std::string& flag) const;
  // The signature policy: `flag` (--signature-policy), else the config's
  // signature_policy, else kDefaultSignaturePolicy when it exists; none without one. As
  // root the policy and every key file it names must be paths only root can change.
  Result<std::optional<TrustPolicy>> SignaturePolicy(const std::string& flag) const;
  // The registry credentials of the docker config this environment names.
  std::function<Result<RegistryCredentials>(const std::string& registry)> Credentials() const;
};

// The environment, then the config file it names (a broken config is an error); without
// `read_config`, the defaults.
Result<CliContext> LoadContext(bool read_config = true);
// In bangerd: its own config (`config_path`), and nothing of the environment a client
// could have chosen; images under the requester's own state root unless it is root's.
Result<CliContext> LoadDaemonContext(const std::string& config_path, const Requester& requester, bool terminal,
                                     uint64_t columns, int client_file);

}  // namespace banger::broker
