#include "broker/host/trusted_paths.h"

#include <sys/stat.h>
#include <unistd.h>

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
    bool parent_open_to_others = false;
    bool restarted = false;
    for (size_t i = 0; i <= parts.size() && !restarted; ++i) {
      const std::string parent = at;
      if (i > 0) at += (at == "/" ? "" : "/") + parts[i - 1];
      struct stat st {};
      if (::lstat(at.c_str(), &st) != 0) {
        if (errno != ENOENT) return refuse(Error::FromErrno("lstat " + at).message);
        // banger makes the rest itself, root-owned; unless another user could make it first.
        if (parent_open_to_others) return refuse(at + " does not exist and " + parent + " is writable by others: make it first");
        return {};
      }
      if (S_ISLNK(st.st_mode)) {
        // One hop at a time: every link and every directory on the way is checked.
        if (st.st_uid != 0) return refuse(at + " is a symlink owned by uid " + std::to_string(st.st_uid));
        char target[PATH_MAX];
        const ssize_t n = ::readlink(at.c_str(), target, sizeof target - 1);
        if (n <= 0) return refuse(Error::FromErrno("readlink " + at).message);
        std::string next(target, static_cast<size_t>(n));
        if (next[0] != '/') next = parent + (parent == "/" ? "" : "/") + next;
        for (size_t k = i; k < parts.size(); ++k) next += "/" + parts[k];
        checking = next;
        restarted = true;
        continue;
      }
      if (std::string why = Distrust(at, st, i == parts.size(), rule); !why.empty()) return refuse(why);
      parent_open_to_others = (st.st_mode & 022) != 0;
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
  // Root's docker config names credential helpers root would run: the file, and the
  // directories on its way, must be root's alone too.
  const std::string docker_file =
      !env.docker_config.empty() ? env.docker_config + "/config.json" : (env.home.empty() ? "" : env.home + "/.docker/config.json");
  if (!docker_file.empty()) {
    BANGER_TRY(CheckTrustedPath(docker_file, env.docker_config.empty() ? "HOME" : "DOCKER_CONFIG"));
  }
  for (const auto& p : paths) {
    if (p.value.empty()) continue;
    if (p.value.rfind("http://", 0) == 0 || p.value.rfind("https://", 0) == 0) continue;  // a catalog URL
    BANGER_TRY(CheckTrustedPath(p.value, p.name, p.rule));
  }
  return {};
}

}  // namespace banger::broker
