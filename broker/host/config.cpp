#include "broker/host/config.h"

#include "base/address.h"
#include "base/reference.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <set>
#include <sstream>

#include "base/fd.h"
#include "broker/host/accounts.h"

namespace banger::broker {
namespace {

constexpr uint64_t kMaxConfigBytes = 1 << 20;

// An unpack bound: `size` ones take a unit (64GiB); a bare number is always the unit
// the name says (bytes, entries, ...), like `image pull --limit`.
struct BoundKey {
  const char* name;
  bool size;
  uint64_t min;
  uint64_t max;
  const char* documented_default;
  const char* meaning;
};

constexpr uint64_t kNoMax = std::numeric_limits<long>::max();
constexpr BoundKey kBounds[] = {
    {"max_layer_bytes", true, 1, kNoMax, "64GiB", "uncompressed bytes of one layer"},
    {"max_total_bytes", true, 1, kNoMax, "256GiB", "uncompressed bytes of all layers together"},
    {"max_spool_bytes", true, 1, kNoMax, "256GiB", "file data the layers write, holes (zero blocks) not counted"},
    {"max_unpack_seconds", false, 1, 7 * 24 * 3600, "3600", "seconds of unpacking, waits for downloads not counted"},
    {"max_entries", false, 1, kNoMax, "10000000", "tar entries across all layers"},
    {"max_depth", false, 1, kNoMax, "4096", "directories deep"},
    {"max_path_bytes", true, 1, kNoMax, "4096", "bytes of one path"},
    {"zstd_window_log_max", false, 10, 31, "27", "largest zstd window a layer may ask for (2^N bytes)"},
    {"max_header_bytes", true, 1, kNoMax, "1MiB", "tar header bytes in front of one entry"},
};

std::string Trim(const std::string& text) {
  const size_t begin = text.find_first_not_of(" \t\r");
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find_last_not_of(" \t\r") - begin + 1);
}

}  // namespace

std::vector<std::string> CommaList(const std::string& value) {
  std::vector<std::string> items;
  std::stringstream stream(value);
  for (std::string item; std::getline(stream, item, ',');) items.push_back(Trim(item));
  if (items.size() == 1 && items[0].empty()) items.clear();
  return items;
}

bool IsValidSystemUserName(const std::string& name) {
  if (name.empty() || name.size() > 32 || !(std::islower(static_cast<unsigned char>(name[0])) || name[0] == '_')) {
    return false;
  }
  for (char c : name) {
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_' ||
          c == '-')) {
      return false;
    }
  }
  return true;
}

bool IsCleanAbsolutePath(const std::string& path) {
  if (path.empty() || path[0] != '/' || path.find("//") != std::string::npos) return false;
  for (const char* bad : {"/../", "/./"}) {
    if ((path + "/").find(bad) != std::string::npos) return false;
  }
  return true;
}

namespace {

// A registry host[:port]: no scheme, no path, no spaces.
Result<uint64_t> ParseWhole(const std::string& text) {
  uint64_t out = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
    return Error{ErrorCode::kInvalidArgument, "not a whole number"};
  }
  return out;
}

Result<uint64_t> ParseBound(const BoundKey& key, const std::string& value) {
  const bool has_unit = std::any_of(value.begin(), value.end(), [](char c) { return std::isalpha(static_cast<unsigned char>(c)); });
  Result<uint64_t> parsed = (key.size && has_unit) ? ParseSize(value) : ParseWhole(value);
  if (!parsed || *parsed < key.min || *parsed > key.max) {
    const std::string range = key.max == kNoMax ? "at least " + std::to_string(key.min)
                                                : "from " + std::to_string(key.min) + " to " + std::to_string(key.max);
    return Error{ErrorCode::kInvalidArgument,
                 std::string(key.name) + " wants a whole number " + range +
                     (key.size ? " (bytes, or with a unit K, M, G or T, e.g. 64GiB)" : "") + ", not '" + value + "'"};
  }
  return *parsed;
}

// The daemon's keys; false when `key` is not one of them.
Result<bool> SetDaemonKey(Config& config, const std::string& key, const std::string& value) {
  auto names = [&](std::vector<std::string>& out) -> Result<bool> {
    for (const std::string& name : CommaList(value)) {
      if (!IsValidAccountName(name)) {
        return Error{ErrorCode::kInvalidArgument, key + " wants comma-separated user or group names, not '" + name + "'"};
      }
      out.push_back(name);
    }
    if (out.size() > kMaxPolicyNames) {
      return Error{ErrorCode::kInvalidArgument, key + " lists more than " + std::to_string(kMaxPolicyNames) + " names"};
    }
    return true;
  };
  if (key == "socket") {
    if (!IsCleanAbsolutePath(value) || value.size() > 100) {
      return Error{ErrorCode::kInvalidArgument, "socket wants an absolute path of at most 100 bytes, not '" + value + "'"};
    }
    config.socket = value;
  } else if (key == "socket_group" || key == "admin_group") {
    if (!IsValidAccountName(value)) {
      return Error{ErrorCode::kInvalidArgument, key + " wants a group name, not '" + value + "'"};
    }
    (key == "socket_group" ? config.socket_group : config.admin_group) = value;
  } else if (key == "allow_users") {
    return names(config.allow_users);
  } else if (key == "allow_groups") {
    return names(config.allow_groups);
  } else if (key == "max_requests" || key == "tenant_max_requests") {
    auto n = ParseWhole(value);
    if (!n || *n < 1 || *n > 1024) {
      return Error{ErrorCode::kInvalidArgument, key + " wants a whole number from 1 to 1024, not '" + value + "'"};
    }
    (key == "max_requests" ? config.max_requests : config.tenant_max_requests) = *n;
  } else {
    return false;
  }
  return true;
}

// One key's value into `config`; the error says what is wrong (without the location).
Result<void> SetKey(Config& config, const std::string& key, const std::string& value) {
  if (key == "user") {
    if (!IsValidSystemUserName(value)) {
      return Error{ErrorCode::kInvalidArgument,
                   "user wants a system user name (lowercase letters, digits, '_', '-'), not '" + value + "'"};
    }
    config.user = value;
  } else if (key == "state_dir" || key == "cache_dir") {
    if (!IsCleanAbsolutePath(value)) {
      return Error{ErrorCode::kInvalidArgument, key + " wants an absolute path, not '" + value + "'"};
    }
    std::string dir = value;
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    (key == "state_dir" ? config.state_dir : config.cache_dir) = dir;
  } else if (key == "insecure_registries") {
    for (const std::string& host : CommaList(value)) {
      BANGER_ASSIGN_OR_RETURN(std::string canonical, CanonicalRegistryHost(host, "insecure_registries"));
      config.insecure_registries.push_back(canonical);
    }
  } else if (key == "mirrors") {
    for (const std::string& pair : CommaList(value)) {
      const size_t eq = pair.find('=');
      const std::string registry = eq == std::string::npos ? "" : Trim(pair.substr(0, eq));
      const std::string mirror = eq == std::string::npos ? "" : Trim(pair.substr(eq + 1));
      auto canonical_registry = CanonicalRegistryHost(registry, "mirrors");
      auto canonical_mirror = CanonicalRegistryHost(mirror, "mirrors");
      if (!canonical_registry || !canonical_mirror) {
        return Error{ErrorCode::kInvalidArgument, "mirrors wants registry=mirror-host pairs, not '" + pair + "'"};
      }
      config.mirrors.push_back({*canonical_registry, *canonical_mirror});
    }
  } else if (key == "egress_allow") {
    for (const std::string& range : CommaList(value)) {
      if (auto cidr = ParseCidr(range); !cidr) {
        return Error{ErrorCode::kInvalidArgument, "egress_allow wants addresses or CIDR ranges: " + cidr.error().message};
      }
      config.egress_allow.push_back(range);
    }
    if (config.egress_allow.size() > kMaxEgressRanges) {
      return Error{ErrorCode::kInvalidArgument, "egress_allow lists more than " + std::to_string(kMaxEgressRanges) +
                                                    " ranges; use wider ones"};
    }
  } else if (key == "helper_uids") {
    BANGER_ASSIGN_OR_RETURN(config.helper_uids, ParseHelperUidRange(value));
  } else if (key == "catalog") {
    const bool url = value.rfind("https://", 0) == 0 || value.rfind("http://", 0) == 0;
    if (!url && !IsCleanAbsolutePath(value)) {
      return Error{ErrorCode::kInvalidArgument, "catalog wants an absolute path or an http(s) URL, not '" + value + "'"};
    }
    config.catalog = value;
  } else if (key == "signature_policy") {
    if (!IsCleanAbsolutePath(value)) {
      return Error{ErrorCode::kInvalidArgument, "signature_policy wants an absolute path, not '" + value + "'"};
    }
    config.signature_policy = value;
  } else if (key == "audit_log") {
    if (!IsCleanAbsolutePath(value)) {
      return Error{ErrorCode::kInvalidArgument, "audit_log wants an absolute path, not '" + value + "'"};
    }
    config.audit_log = value;
  } else if (key == "audit_syslog") {
    if (value != "none" && !IsCleanAbsolutePath(value)) {
      return Error{ErrorCode::kInvalidArgument, "audit_syslog wants the path of a syslog socket or none, not '" + value + "'"};
    }
    config.audit_syslog = value == "none" ? "" : value;
  } else if (key == "parallel_downloads") {
    auto n = ParseWhole(value);
    if (!n || *n < 1 || *n > 16) {
      return Error{ErrorCode::kInvalidArgument, "parallel_downloads wants a whole number from 1 to 16, not '" + value + "'"};
    }
    config.parallel_downloads = static_cast<int>(*n);
  } else if (key == "min_download_rate") {
    auto n = ParseWhole(value);
    if (!n || *n < 1 || *n > (uint64_t{1} << 30)) {
      return Error{ErrorCode::kInvalidArgument, "min_download_rate wants bytes per second from 1 to 1073741824, not '" +
                                                    value + "'"};
    }
    config.min_download_rate = *n;
  } else if (key == "download_grace_seconds") {
    auto n = ParseWhole(value);
    if (!n || *n > 7 * 24 * 3600) {
      return Error{ErrorCode::kInvalidArgument, "download_grace_seconds wants a whole number from 0 to 604800, not '" +
                                                    value + "'"};
    }
    config.download_grace_seconds = *n;
  } else if (key.rfind("tenant_", 0) == 0 && key != "tenant_max_requests") {
    return SetTenantLimit(config.tenant_defaults, key.substr(std::strlen("tenant_")), value, ParseSize);
  } else if (key.rfind("tenant.", 0) == 0) {
    const size_t last = key.rfind('.');
    const std::string name = key.substr(std::strlen("tenant."), last - std::strlen("tenant."));
    if (last <= std::strlen("tenant.") || !IsValidTenantName(name)) {
      return Error{ErrorCode::kInvalidArgument, "tenant keys are tenant.USER.FIELD or tenant.@GROUP.FIELD, not '" + key + "'"};
    }
    auto found = std::find_if(config.tenant_overrides.begin(), config.tenant_overrides.end(),
                              [&](const auto& entry) { return entry.first == name; });
    if (found == config.tenant_overrides.end()) found = config.tenant_overrides.insert(found, {name, TenantLimits{}});
    return SetTenantLimit(found->second, key.substr(last + 1), value, ParseSize);
  } else {
    BANGER_ASSIGN_OR_RETURN(const bool daemon_key, SetDaemonKey(config, key, value));
    if (daemon_key) return {};
    for (const BoundKey& bound : kBounds) {
      if (key != bound.name) continue;
      BANGER_ASSIGN_OR_RETURN(config.unpack_limits[key], ParseBound(bound, value));
      return {};
    }
    return Error{ErrorCode::kInvalidArgument, "unknown config key '" + key + "'"};
  }
  return {};
}

}  // namespace

const std::vector<std::string>& ConfigKeys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k = {"user", "helper_uids", "state_dir", "cache_dir", "insecure_registries",
                                  "mirrors", "egress_allow", "parallel_downloads", "min_download_rate",
                                  "download_grace_seconds", "catalog", "signature_policy", "audit_log", "audit_syslog",
                                  "socket", "socket_group", "allow_users", "allow_groups", "admin_group",
                                  "max_requests", "tenant_max_requests", "tenant_registries", "tenant_max_images",
                                  "tenant_max_bytes", "tenant_requests_per_minute"};
    for (const BoundKey& bound : kBounds) k.push_back(bound.name);
    return k;
  }();
  return keys;
}

std::string ConfigPath(const HostEnvironment& env) {
  return env.config_path.empty() ? kDefaultConfigPath : env.config_path;
}

Result<Config> ParseConfig(const std::string& text, const std::string& path) {
  Config config;
  config.path = path;
  config.from_file = true;
  std::set<std::string> seen;
  std::stringstream lines(text);
  int number = 0;
  for (std::string raw; std::getline(lines, raw);) {
    ++number;
    const std::string where = " (" + path + ":" + std::to_string(number) + ")";
    // A comment is a line starting with '#', or '#' after blank space.
    std::string line = raw;
    for (size_t hash = line.find('#'); hash != std::string::npos; hash = line.find('#', hash + 1)) {
      if (hash == 0 || line[hash - 1] == ' ' || line[hash - 1] == '\t') {
        line.resize(hash);
        break;
      }
    }
    line = Trim(line);
    if (line.empty()) continue;
    const size_t eq = line.find('=');
    const std::string key = eq == std::string::npos ? "" : Trim(line.substr(0, eq));
    // tenant.NAME.FIELD keys name a user or @group, which may hold more than [a-z_].
    const bool tenant_key = key.rfind("tenant.", 0) == 0 &&
                            key.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.@-") ==
                                std::string::npos;
    if (key.empty() || (!tenant_key && key.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") != std::string::npos)) {
      return Error{ErrorCode::kInvalidArgument, "malformed config line, want 'key = value': '" + line + "'" + where};
    }
    if (!seen.insert(key).second) {
      return Error{ErrorCode::kInvalidArgument, "config key '" + key + "' set twice" + where};
    }
    if (auto set = SetKey(config, key, Trim(line.substr(eq + 1))); !set) {
      return Error{ErrorCode::kInvalidArgument, set.error().message + where};
    }
  }
  return config;
}

Result<std::optional<std::string>> ReadRootFile(const std::string& path, const std::string& what) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd && errno == ENOENT) return std::optional<std::string>();
  auto fail = [&](ErrorCode code, const std::string& message) { return Error{code, message + " (" + path + ")"}; };
  if (!fd) return fail(ErrorCode::kIo, Error::FromErrno("reading " + what).message);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return fail(ErrorCode::kIo, Error::FromErrno("reading " + what).message);
  if (!S_ISREG(st.st_mode)) return fail(ErrorCode::kInvalidArgument, what + " is not a regular file");
  if (::geteuid() == 0 && (st.st_uid != 0 || (st.st_mode & 022) != 0)) {
    return fail(ErrorCode::kInvalidArgument,
                "refusing " + what + ": others than root may write it (it must be root's, not group- or world-writable)");
  }
  auto text = ReadWholeFd(fd.get(), kMaxConfigBytes, what);
  if (!text) return fail(text.error().code, text.error().message);
  return std::optional<std::string>(std::move(*text));
}

Result<Config> LoadConfigFrom(const std::string& path) {
  BANGER_ASSIGN_OR_RETURN(std::optional<std::string> text, ReadRootFile(path, "the config"));
  if (!text) {
    Config defaults;
    defaults.path = path;
    return defaults;
  }
  return ParseConfig(*text, path);
}

std::string ConfigTemplate(const std::string& user, const std::string& state_dir, const std::string& cache_dir) {
  std::ostringstream t;
  t << "# banger's configuration, written by `banger system install` (docs/install.md).\n"
       "# One `key = value` per line; `#` starts a comment (at the start of a line or after a\n"
       "# space). banger reads this file whenever it starts ($BANGER_CONFIG names another);\n"
       "# a malformed line, an unknown key or a bad value is an error naming file:line.\n"
       "# Commented-out keys show their defaults.\n"
       "\n"
       "# The unprivileged system user the sandboxed helpers run as when banger runs as root\n"
       "# (falls back to 'banger', then 'nobody', if it does not exist).\n"
       "user = " << user << "\n"
       "\n"
       "# A uid range reserved for banger (as /etc/subuid reserves one; no user or file may\n"
       "# own these uids): each of root's pulls then runs its helpers as a uid of its own\n"
       "# from it, with the same number as gid, so concurrent pulls cannot touch each other.\n"
       "# A pull waits for no uid: when every one is held it fails, naming the range.\n"
       "# helper_uids = 2147000000-2147000999\n"
       "\n"
       "# Where root's banger keeps pulled images (<state_dir>/images) and cached registry\n"
       "# blobs (<cache_dir>/oci). $BANGER_STATE_DIR and $BANGER_CACHE_DIR override them;\n"
       "# other users keep theirs under ~/.local/state/banger and ~/.cache/banger.\n"
       "state_dir = " << state_dir << "\n"
       "cache_dir = " << cache_dir << "\n"
       "\n"
       "# Registries that may be reached over plain HTTP (loopback always may), comma-separated.\n"
       "# insecure_registries = registry.internal:5000, 10.0.0.7:5000\n"
       "\n"
       "# Pull-through mirrors, comma-separated registry=mirror-host pairs: a pull from the\n"
       "# registry asks its mirrors first (anonymously; the registry's credentials never go to\n"
       "# a mirror), then the registry itself. Blobs are verified by digest either way.\n"
       "# mirrors = docker.io=mirror.internal:5000\n"
       "\n"
       "# Where a registry's redirects and token realm may lead the fetcher. A loopback,\n"
       "# link-local (cloud metadata) or private address is refused unless the registry is on\n"
       "# one of the same kind, or it is in these comma-separated ranges. docs/fetcher.md.\n"
       "# egress_allow = 10.20.0.0/16, fd00:1::/64\n"
       "\n"
       "# Blobs downloaded at once, 1 to 16 (`image pull --parallel` overrides it).\n"
       "# parallel_downloads = 3\n"
       "\n"
       "# The slowest a blob may arrive: after the grace time, at this many bytes per second\n"
       "# on average, or the pull stops (a registry that trickles cannot hold it forever).\n"
       "# min_download_rate = 16384\n"
       "# download_grace_seconds = 300\n"
       "\n"
       "# The image catalog (a path or an https URL) `image pull NAME` consults first\n"
       "# (`--catalog` and $BANGER_CATALOG override it; default /etc/banger/catalog.json,\n"
       "# else the catalog built into banger). docs/catalog.md.\n"
       "# catalog = https://images.example.com/catalog.json\n"
       "\n"
       "# The signature policy, in containers-policy.json's format (docs/signatures.md):\n"
       "# which registries' images must carry a cosign signature by which keys. Without\n"
       "# one (the default path absent), every image is accepted.\n"
       "# signature_policy = /etc/banger/policy.json\n"
       "\n"
       "# The audit log: one hash-chained JSON line per record (0600, in a 0700 directory);\n"
       "# `banger system audit verify` checks the chain.\n"
       "# audit_log = /var/log/banger/audit.log\n"
       "# Each record's hash also goes to syslog (facility authpriv) through this socket,\n"
       "# which anchors the chain outside the file; none sends nothing. A socket that does\n"
       "# not exist is skipped, and `system status` says so.\n"
       "# audit_syslog = /dev/log\n"
       "\n"
       "# bangerd, the daemon that serves other users (docs/multi-tenant.md): its socket\n"
       "# (mode 0660, group socket_group), who may use it (users, and members of groups;\n"
       "# nobody but root when both are empty), who may do everything root may through it\n"
       "# (admin_group), and how many requests it runs at once, in all and per user.\n"
       "# socket = /run/banger/banger.sock\n"
       "# socket_group = banger-users\n"
       "# allow_users = alice, bob\n"
       "# allow_groups = banger-users\n"
       "# admin_group = banger-admins\n"
       "# max_requests = 16\n"
       "# tenant_max_requests = 4\n"
       "# What tenants may pull and keep: REGISTRY/REPOSITORY glob patterns ('*' stays within\n"
       "# one path segment), images and bytes held (checked before each pull), and requests a\n"
       "# minute. tenant.USER.FIELD and tenant.@GROUP.FIELD override them for one user or\n"
       "# group (a user's own wins over its groups', a later group's over an earlier one's).\n"
       "# tenant_registries = docker.io/library/*, ghcr.io/acme/*\n"
       "# tenant_max_images = 100\n"
       "# tenant_max_bytes = 256GiB\n"
       "# tenant_requests_per_minute = 120\n"
       "# tenant.@builders.max_images = 100\n"
       "\n"
       "# Bounds on what the unpacker accepts from a layer (`image pull --limit NAME=VALUE`\n"
       "# overrides one). Byte sizes take a unit (K, M, G, T, powers of 1024: 64GiB); a bare\n"
       "# number is bytes.\n";
  for (const BoundKey& bound : kBounds) t << "# " << bound.name << " = " << bound.documented_default << "    # " << bound.meaning << "\n";
  return t.str();
}

Result<uint64_t> ParseSize(const std::string& text) {
  auto invalid = [&] {
    return Error{ErrorCode::kInvalidArgument,
                 "invalid size '" + text + "': want a number of MiB, or a number with K, M, G or T (e.g. 4GiB)"};
  };
  if (text.empty() || !(std::isdigit(static_cast<unsigned char>(text[0])))) return invalid();
  char* end = nullptr;
  const double number = std::strtod(text.c_str(), &end);
  std::string unit(end);
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (unit.size() > 1 && (unit.ends_with("IB") || unit.ends_with("B"))) unit = unit.substr(0, 1);
  double scale;
  if (unit.empty() || unit == "M") {
    scale = 1 << 20;  // a bare number is MiB
  } else if (unit == "K") {
    scale = 1 << 10;
  } else if (unit == "G") {
    scale = 1ull << 30;
  } else if (unit == "T") {
    scale = 1ull << 40;
  } else {
    return invalid();
  }
  const double bytes = number * scale;
  if (!(bytes > 0) || bytes > 1e15) return invalid();
  return static_cast<uint64_t>(bytes);
}

}  // namespace banger::broker
