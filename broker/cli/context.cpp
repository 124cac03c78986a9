#include "broker/cli/context.h"

#include "broker/cli/audit_trail.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <cstdlib>

extern char** environ;

#include "base/fd.h"
#include "broker/host/accounts.h"
#include "broker/host/trusted_paths.h"
#include "broker/host/user_dirs.h"
#include "ipc/daemon_protocol.h"
#include "security/stop_signal.h"

namespace banger::broker {
namespace {

std::string Variable(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

}  // namespace

HostEnvironment CaptureEnvironment() {
  HostEnvironment env;
  env.root = ::geteuid() == 0;
  // A terminal without TERM, or TERM=dumb, gets plain lines: it may not take escapes.
  const std::string term = Variable("TERM");
  env.stdout_terminal = ::isatty(STDOUT_FILENO) == 1 && !term.empty() && term != "dumb";
  if (winsize size{}; env.stdout_terminal && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0) {
    env.terminal_columns = std::min<uint64_t>(size.ws_col, ipc::kMaxTerminalColumns);
  }
  env.daemon_host = Variable("BANGER_HOST");
  for (char** variable = environ; *variable != nullptr; ++variable) env.variables.emplace_back(*variable);
  env.home = Variable("HOME");
  env.xdg_cache_home = Variable("XDG_CACHE_HOME");
  env.xdg_state_home = Variable("XDG_STATE_HOME");
  env.state_dir = Variable("BANGER_STATE_DIR");
  env.cache_dir = Variable("BANGER_CACHE_DIR");
  env.config_path = Variable("BANGER_CONFIG");
  env.catalog = Variable("BANGER_CATALOG");
  env.tmpdir = Variable("TMPDIR");
  env.docker_config = Variable("DOCKER_CONFIG");
  for (const char* proxy : {"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"}) {
    if (const char* value = std::getenv(proxy)) env.proxy_settings.push_back(std::string(proxy) + "=" + value);
  }
#ifdef BANGER_TEST_HOOKS
  env.test_stall_file = Variable("BANGER_TEST_STALL");
#endif
  return env;
}

std::string CliContext::StateRoot() const {
  // Names are per tenant: each user the daemon serves has images of their own.
  if (requester.through_daemon && requester.uid != 0) return TenantStateRoot(requester.uid);
  return broker::StateRoot(env, config);
}

std::string CliContext::TenantStateRoot(uint32_t uid) const {
  return broker::StateRoot(env, config) + "/tenants/" + std::to_string(uid);
}

std::string CliContext::CacheRoot() const { return broker::CacheRoot(env, config); }

Result<HelperLauncher::Settings> CliContext::Helpers() const {
  HelperLauncher::Settings settings;
  if (env.root && config.helper_uids) {
    BANGER_ASSIGN_OR_RETURN(HelperUidClaim claim, ClaimHelperUid(CacheRoot() + "/helper-uids", *config.helper_uids));
    settings.helper_uid = std::make_shared<const HelperUidClaim>(std::move(claim));
  }
  if (auto dir = SelfDirectory()) settings.banger_dir = *dir;  // else a start names the missing helper
  settings.sandbox_user = config.user;
  settings.stop_fd = security::StopFd();
  settings.fetcher_environment = env.proxy_settings;
  return settings;
}

void CliContext::Note(const nlohmann::json& fields) const {
  if (audit != nullptr) audit->Note(fields);
}

namespace {

bool IsUrl(const std::string& source) { return source.rfind("http://", 0) == 0 || source.rfind("https://", 0) == 0; }

// As root, the paths the config names are held to the same rule as the environment's.
Result<void> CheckConfigPaths(const HostEnvironment& env, const std::string& config_path, const Config& config) {
  if (!env.root) return {};
  for (const auto& [key, value] : {std::pair<const char*, const std::string&>{"state_dir", config.state_dir},
                                   {"cache_dir", config.cache_dir}, {"catalog", config.catalog}}) {
    if (value.empty() || IsUrl(value)) continue;
    BANGER_TRY(CheckTrustedPath(value, config_path + ": " + key));
  }
  return {};
}

}  // namespace

Result<CatalogSources> CliContext::Catalog(const std::string& flag) const {
  if (env.root && !flag.empty() && !IsUrl(flag)) BANGER_TRY(CheckTrustedPath(flag, "--catalog"));
  return CatalogSources{flag, env.catalog, config.catalog};
}

Result<std::optional<TrustPolicy>> CliContext::SignaturePolicy(const std::string& flag) const {
  const bool named = !flag.empty() || !config.signature_policy.empty();
  const std::string path = !flag.empty() ? flag : named ? config.signature_policy : kDefaultSignaturePolicy;
  const std::string named_by = !flag.empty() ? "--signature-policy" : "signature_policy";
  if (path.empty() || path[0] != '/') return Error{ErrorCode::kInvalidArgument, named_by + " wants an absolute path, not '" + path + "'"};
  const bool root = env.root;
  // What a file may hold: a policy is small, a key smaller.
  auto read = [root](const std::string& file, const std::string& by, uint64_t limit) -> Result<std::string> {
    if (root) BANGER_TRY(CheckTrustedPath(file, by));
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!fd) return Error::FromErrno("open " + file);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return Error{ErrorCode::kInvalidArgument, file + " is not a regular file"};
    return ReadWholeFd(fd.get(), limit, file);
  };
  auto text = read(path, named_by, 1 << 20);
  // Only nothing at all at the default path means no policy: a dangling symlink there is
  // an error, not a policy turned off.
  struct stat st {};
  if (!text && !named && ::lstat(path.c_str(), &st) != 0 && errno == ENOENT) return std::optional<TrustPolicy>();
  if (!text) return Error{text.error().code, "signature policy: " + text.error().message};
  BANGER_ASSIGN_OR_RETURN(TrustPolicy policy,
                          TrustPolicy::Parse(*text, path, [&](const std::string& key) { return read(key, "keyPath in " + path, 64 * 1024); }));
  return std::optional<TrustPolicy>(std::move(policy));
}

std::function<Result<RegistryCredentials>(const std::string&)> CliContext::Credentials() const {
  // Root's docker config is root's: a request through the daemon has the client's own
  // credentials for the registry it names, or none.
  if (requester.through_daemon) {
    return [registry = requester.credentials_registry,
            credentials = requester.credentials](const std::string& asked) -> Result<RegistryCredentials> {
      return asked == registry ? credentials : RegistryCredentials{};
    };
  }
  return [env = env](const std::string& registry) { return LookupCredentials(env, registry); };
}

Result<CliContext> LoadContext(bool read_config) {
  CliContext context;
  context.env = CaptureEnvironment();
  // No silent fallback: a relative path is a mistake, not a reason to use the defaults.
  for (const auto& [name, value] : {std::pair<const char*, const std::string&>{"BANGER_STATE_DIR", context.env.state_dir},
                                    {"BANGER_CACHE_DIR", context.env.cache_dir},
                                    {"BANGER_CONFIG", context.env.config_path}}) {
    if (!value.empty() && value[0] != '/') {
      return Error{ErrorCode::kInvalidArgument, std::string(name) + " must be an absolute path, not '" + value + "'"};
    }
  }
  BANGER_TRY(CheckEnvironmentPaths(context.env));
  context.config_path = ConfigPath(context.env);
  if (read_config) {
    BANGER_ASSIGN_OR_RETURN(context.config, LoadConfigFrom(context.config_path));
    // A file named on purpose and missing is a mistake; only the default may be absent.
    if (!context.env.config_path.empty() && !context.config.from_file) {
      return Error{ErrorCode::kNotFound, "BANGER_CONFIG names " + context.config_path +
                                             ", which does not exist (unset it to use " + kDefaultConfigPath + ")"};
    }
    BANGER_TRY(CheckConfigPaths(context.env, context.config_path, context.config));
  }
  context.requester = LocalRequester({});
  return context;
}

Result<CliContext> LoadDaemonContext(const std::string& config_path, const Requester& requester, bool terminal,
                                     uint64_t columns, int client_file) {
  CliContext context;
  context.env = CaptureEnvironment();
  context.env.stdout_terminal = terminal;
  context.env.terminal_columns = std::min<uint64_t>(columns, ipc::kMaxTerminalColumns);
  // The daemon's environment is the service manager's; what it would take from a
  // user's (paths, the catalog, a docker config) comes from the config alone.
  context.env.daemon_host.clear();
  context.env.state_dir.clear();
  context.env.cache_dir.clear();
  context.env.catalog.clear();
  context.env.docker_config.clear();
  context.env.config_path = config_path;
  context.config_path = config_path;
  BANGER_ASSIGN_OR_RETURN(context.config, LoadConfigFrom(config_path));
  BANGER_TRY(CheckConfigPaths(context.env, context.config_path, context.config));
  context.requester = requester;
  context.client_file = client_file;
  return context;
}

Requester LocalRequester(const std::vector<std::string>& argv) {
  Requester requester;
  requester.uid = ::getuid();
  requester.gid = ::getgid();
  requester.pid = ::getpid();
  requester.user = UserName(requester.uid);
  for (const std::string& arg : argv) requester.command += (requester.command.empty() ? "" : " ") + arg;
  requester.admin = requester.uid == 0;
  return requester;
}

}  // namespace banger::broker
