// banger's one configuration file (docs/install.md): `key = value` lines, `#` comments.
// $BANGER_CONFIG names it, else /etc/banger/config; a missing file means the defaults.
// A malformed line, an unknown key or a bad value is an error naming file:line. The
// command line loads it once and passes what it says down (cli/context.h).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "broker/host/environment.h"
#include "broker/host/helper_uids.h"
#include "broker/host/tenant_limits.h"

namespace banger::broker {

// Where the signature policy is when the config names none; absent, every image is accepted.
inline constexpr const char* kDefaultSignaturePolicy = "/etc/banger/policy.json";

inline constexpr size_t kMaxEgressRanges = 64;

inline constexpr const char* kDefaultConfigPath = "/etc/banger/config";
inline constexpr const char* kDefaultSandboxUser = "banger";
inline constexpr const char* kDefaultAuditLog = "/var/log/banger/audit.log";
inline constexpr const char* kDefaultAuditSyslog = "/dev/log";
inline constexpr const char* kDefaultDaemonSocket = "/run/banger/banger.sock";
inline constexpr size_t kMaxPolicyNames = 256;

struct RegistryMirror {
  std::string registry;  // "docker.io"
  std::string mirror;    // "mirror.internal:5000"
  bool operator==(const RegistryMirror&) const = default;
};

struct Config {
  std::string path;          // the file this came from (or would have)
  bool from_file = false;    // false: the file does not exist, these are the defaults
  std::string user = kDefaultSandboxUser;  // the unprivileged user the helpers run as
  std::string state_dir;     // empty: DefaultStateRoot()'s own default
  std::string cache_dir;     // empty: DefaultCacheRoot()'s own default
  std::vector<std::string> insecure_registries;
  std::vector<RegistryMirror> mirrors;  // asked before their registry (pull/fetch.h)
  // Loopback, link-local and private ranges a registry's redirects and token realm may
  // lead the fetcher to even when the registry is not on that kind of address (at most
  // kMaxEgressRanges).
  std::vector<std::string> egress_allow;
  // A uid range reserved for banger: root's pulls each run their helpers as a uid of
  // their own from it (helper_uids.h). Unset: every pull's helpers run as `user`.
  std::optional<HelperUidRange> helper_uids;
  int parallel_downloads = 3;
  uint64_t min_download_rate = 16 * 1024;  // bytes/s a blob must average after the grace time
  uint64_t download_grace_seconds = 300;
  std::string catalog;       // path or URL of the image catalog; empty: /etc/banger/catalog.json or built in
  // The signature policy (docs/signatures.md); empty: kDefaultSignaturePolicy if it exists.
  std::string signature_policy;
  std::string audit_log = kDefaultAuditLog;  // the hash-chained record of every request (broker/store/audit_log.h)
  std::string audit_syslog = kDefaultAuditSyslog;  // where each record's hash goes too; empty: nowhere
  // bangerd (docs/multi-tenant.md): its socket, the group that may connect to it (mode
  // 0660; empty: root's group only), who may ask it for anything, who may ask for
  // everything, and how many requests it runs at once, in all and per tenant.
  std::string socket = kDefaultDaemonSocket;
  std::string socket_group;
  std::vector<std::string> allow_users;
  std::vector<std::string> allow_groups;
  std::string admin_group;
  uint64_t max_requests = 16;
  uint64_t tenant_max_requests = 4;
  // What tenants may pull and keep: every tenant's (tenant_registries, tenant_max_images,
  // tenant_max_bytes, tenant_requests_per_minute), then one user's or group's
  // (tenant.NAME.FIELD, NAME a user or @group), in the file's order.
  TenantLimits tenant_defaults{.max_images = 100, .max_bytes = uint64_t{256} << 30, .requests_per_minute = 120};
  std::vector<std::pair<std::string, TenantLimits>> tenant_overrides;
  // Unpack bounds by name (ipc::UnpackLimits::Names()); only those set here.
  std::map<std::string, uint64_t> unpack_limits;
};

// The limits of a tenant who is `user` with the groups `gids`: every tenant's, then each
// matching group's override, then the user's own (tenant_limits.cpp).
TenantLimits LimitsFor(const Config& config, const std::string& user, const std::vector<uint32_t>& gids);

// $BANGER_CONFIG when set (and not empty), else /etc/banger/config.
std::string ConfigPath(const HostEnvironment& env);

// Parses a config's text; errors say "... (PATH:LINE)".
Result<Config> ParseConfig(const std::string& text, const std::string& path);
// Reads and parses `path`; a missing file gives the defaults. When banger runs as root,
// a file that others than root could write is refused.
Result<Config> LoadConfigFrom(const std::string& path);

// A small file banger trusts (the config, the install manifest): its text, or nullopt
// when it does not exist. When banger runs as root, a file that is not root's or that
// group or others may write is refused. Errors end with " (PATH)".
Result<std::optional<std::string>> ReadRootFile(const std::string& path, const std::string& what);

// The documented file `banger system install` writes.
std::string ConfigTemplate(const std::string& user, const std::string& state_dir, const std::string& cache_dir);

// A name `user` (and `system install --user`) accepts: [a-z_][a-z0-9_-]*, at most 32.
bool IsValidSystemUserName(const std::string& name);
// "a, b ,c" -> {"a", "b", "c"}; "" -> {}.
std::vector<std::string> CommaList(const std::string& value);
// Absolute, without "..", "." or "//" components.
bool IsCleanAbsolutePath(const std::string& path);

// The keys a config may hold, in the order the template documents them.
const std::vector<std::string>& ConfigKeys();

// "4GiB", "512M", "2048" (a bare number is MiB), "1.5G": bytes; units K/M/G/T with an
// optional "iB"/"B" are powers of 1024.
Result<uint64_t> ParseSize(const std::string& text);

}  // namespace banger::broker
