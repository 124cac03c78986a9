#include "broker/host/trusted_paths.h"

#include <sys/stat.h>

#include <climits>
#include <cstdlib>
#include <vector>

namespace banger::broker {
namespace {

constexpr int kMaxSymlinks = 8;

std::string Mode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

// Why `at` (stat as `st`) is not to be trusted, or "".
std::string Distrust(const std::string& at, const struct stat& st, bool leaf, TrustedPathRule rule) {
  if (st.st_uid != 0) return at + " is owned by uid " + std::to_string(st.st_uid);
  const bool others_write = (st.st_mode & 022) != 0;
  const bool sticky_dir = S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX) != 0;
  if (others_write && !(sticky_dir && (!leaf || rule.sticky_itself_is_fine))) {
    return at + " is writable by group or others (mode " + Mode(st.st_mode) + ")";
  }
  return "";
}

std::vector<std::string> Components(const std::string& path) {
  std::vector<std::string> parts;
  for (size_t at = 0; at < path.size();) {
    const size_t slash = path.find('/', at);
    const size_t end = slash == std::string::npos ? path.size() : slash;
    if (end > at) parts.push_back(path.substr(at, end - at));
    at = end + 1;
  }
  return parts;
}

}  // namespace

Result<void> CheckTrustedPath(const std::string& path, const std::string& named_by, TrustedPathRule rule) {
  auto refuse = [&](const std::string& why) {
    return Error{ErrorCode::kInvalidArgument, "refusing " + named_by + "=" + path + ": " + why +
                                                  " (as root, banger trusts only paths that root alone can change)"};
  };
  if (path.empty() || path[0] != '/') return refuse("not an absolute path");
  std::string checking = path;
  for (int links = 0; links <= kMaxSymlinks; ++links) {
    const std::vector<std::string> parts = Components(checking);
    std::string at = "/";
    bool restarted = false;
    for (size_t i = 0; i <= parts.size() && !restarted; ++i) {
      if (i > 0) at += (at == "/" ? "" : "/") + parts[i - 1];
      struct stat st {};
      if (::lstat(at.c_str(), &st) != 0) {
        if (errno == ENOENT) return {};  // banger makes the rest itself, root-owned
        return refuse(Error::FromErrno("lstat " + at).message);
      }
      if (S_ISLNK(st.st_mode)) {
        // The link itself is root's (a link's mode means nothing); where it leads is checked.
        if (st.st_uid != 0) return refuse(at + " is a symlink owned by uid " + std::to_string(st.st_uid));
        char resolved[PATH_MAX];
        if (::realpath(at.c_str(), resolved) == nullptr) {
          if (errno == ENOENT) return refuse(at + " is a dangling symlink");
          return refuse(Error::FromErrno("realpath " + at).message);
        }
        std::string rest;
        for (size_t k = i; k < parts.size(); ++k) rest += "/" + parts[k];
        checking = std::string(resolved) + rest;
        restarted = true;
        continue;
      }
      if (std::string why = Distrust(at, st, i == parts.size(), rule); !why.empty()) return refuse(why);
    }
    if (!restarted) return {};
  }
  return refuse("more than " + std::to_string(kMaxSymlinks) + " symlinks on the way");
}

Result<void> CheckEnvironmentPaths(const HostEnvironment& env) {
  if (!env.root) return {};
  const struct {
    const std::string& value;
    const char* name;
    TrustedPathRule rule;
  } paths[] = {{env.state_dir, "BANGER_STATE_DIR", {}}, {env.cache_dir, "BANGER_CACHE_DIR", {}},
               {env.config_path, "BANGER_CONFIG", {}},  {env.catalog, "BANGER_CATALOG", {}},
               {env.docker_config, "DOCKER_CONFIG", {}}, {env.tmpdir, "TMPDIR", {.sticky_itself_is_fine = true}}};
  for (const auto& p : paths) {
    if (p.value.empty()) continue;
    if (p.value.rfind("http://", 0) == 0 || p.value.rfind("https://", 0) == 0) continue;  // a catalog URL
    BANGER_TRY(CheckTrustedPath(p.value, p.name, p.rule));
  }
  return {};
}

}  // namespace banger::broker
