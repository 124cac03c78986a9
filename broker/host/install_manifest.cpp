#include "broker/host/install_manifest.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <set>

#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "base/json.h"
#include "broker/host/config.h"
#include "broker/host/subprocess.h"
#include "broker/store/files.h"

namespace banger::broker {
namespace {

using nlohmann::json;

bool IsCleanAbsolute(const std::string& path) {
  return !path.empty() && path[0] == '/' && path.find("/..") == std::string::npos &&
         path.find("//") == std::string::npos;
}

// Whether `target` is a root:root regular file with `mode` whose bytes `same` accepts.
bool AlreadyInstalled(const std::string& target, mode_t mode, uint64_t size, const std::function<bool(int)>& same) {
  UniqueFd fd(::open(target.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY));
  struct stat st;
  if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  if (st.st_uid != 0 || st.st_gid != 0 || (st.st_mode & 07777) != mode) return false;
  return static_cast<uint64_t>(st.st_size) == size && same(fd.get());
}

bool SameBytes(int a, int b) {
  std::vector<char> x(1 << 16), y(1 << 16);
  for (off_t at = 0;;) {
    ssize_t n = ::pread(a, x.data(), x.size(), at);
    ssize_t m = ::pread(b, y.data(), y.size(), at);
    if (n < 0 || n != m) return false;
    if (n == 0) return true;
    if (!std::equal(x.begin(), x.begin() + n, y.begin())) return false;
    at += n;
  }
}

}  // namespace

bool InstallManifest::Created(const std::string& dir) const {
  return std::find(created_dirs.begin(), created_dirs.end(), dir) != created_dirs.end();
}

json ManifestToJson(const InstallManifest& m) {
  return {{"version", 1},
          {"prefix", m.prefix},
          {"config_dir", m.config_dir},
          {"config_created", m.config_created},
          {"files", m.files},
          {"created_dirs", m.created_dirs},
          {"user", {{"name", m.user}, {"created", m.user_created}, {"group_created", m.group_created}}},
          {"state_dir", m.state_dir},
          {"cache_dir", m.cache_dir},
          {"init_root", m.init_root},
          {"service_files", m.service_files},
          {"service_enabled", m.service_enabled}};
}

std::string ManifestText(const InstallManifest& manifest) { return DumpJson(ManifestToJson(manifest), 2) + "\n"; }

Result<std::optional<InstallManifest>> LoadManifest(const std::string& config_dir) {
  const std::string path = config_dir + "/installed.json";
  BANGER_ASSIGN_OR_RETURN(std::optional<std::string> text, ReadRootFile(path, "the install manifest"));
  if (!text) return std::optional<InstallManifest>();
  auto invalid = [&](const std::string& why) {
    return Error{ErrorCode::kMalformed, "invalid install manifest: " + why + " (" + path + ")"};
  };
  const json j = json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return invalid("not JSON");
  InstallManifest m;
  try {
    if (j.at("version").get<int>() != 1) return invalid("unknown version");
    m.prefix = j.at("prefix").get<std::string>();
    m.config_dir = config_dir;
    m.config_created = j.at("config_created").get<bool>();
    m.files = j.at("files").get<std::vector<std::string>>();
    m.created_dirs = j.at("created_dirs").get<std::vector<std::string>>();
    m.user = j.at("user").at("name").get<std::string>();
    m.user_created = j.at("user").at("created").get<bool>();
    m.group_created = j.at("user").at("group_created").get<bool>();
    m.state_dir = j.at("state_dir").get<std::string>();
    m.cache_dir = j.at("cache_dir").get<std::string>();
    // An install from before bangerd has none of these.
    m.init_root = j.value("init_root", std::string("/"));
    m.service_files = j.value("service_files", std::vector<std::string>{});
    m.service_enabled = j.value("service_enabled", false);
  } catch (const json::exception& e) {
    return invalid(e.what());
  }
  for (const std::string& path_in : {m.prefix, m.state_dir, m.cache_dir}) {
    if (!IsCleanAbsolute(path_in)) return invalid("'" + path_in + "' is not a clean absolute path");
  }
  for (const std::string& file : m.files) {
    if (!IsCleanAbsolute(file) || !file.starts_with(m.prefix + "/")) return invalid("file '" + file + "' outside the prefix");
  }
  if (!IsCleanAbsolute(m.init_root)) return invalid("init_root '" + m.init_root + "' is not a clean absolute path");
  for (const std::string& file : m.service_files) {
    const bool known = file == m.systemd_dir() + "/banger.socket" || file == m.systemd_dir() + "/banger.service" ||
                       file == m.openrc_dir() + "/banger";
    if (!known) return invalid("'" + file + "' is not one of bangerd's service files");
  }
  for (const std::string& dir : m.created_dirs) {
    if (!IsCleanAbsolute(dir)) return invalid("'" + dir + "' is not a clean absolute path");
  }
  return std::optional<InstallManifest>(std::move(m));
}

Result<bool> InstallCopy(const std::string& source, const std::string& target, mode_t mode) {
  UniqueFd in(::open(source.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st;
  if (!in || ::fstat(in.get(), &st) != 0) return Error::FromErrno("reading " + source);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (AlreadyInstalled(target, mode, size, [&](int fd) { return SameBytes(fd, in.get()); })) return false;
  BANGER_TRY(ReplaceFileAtomically(target, {.mode = mode, .root_owned = true}, [&](int out) -> Result<void> {
    std::vector<char> buffer(1 << 20);
    for (off_t at = 0;;) {
      ssize_t n = ::pread(in.get(), buffer.data(), buffer.size(), at);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Error::FromErrno("reading " + source);
      if (n == 0) return {};
      BANGER_TRY(WriteAll(out, std::string_view(buffer.data(), static_cast<size_t>(n)), "writing " + target));
      at += n;
    }
  }));
  return true;
}

Result<bool> InstallContent(const std::string& content, const std::string& target, mode_t mode) {
  auto same = [&](int fd) {
    auto text = ReadWholeFd(fd, content.size(), target);
    return text && *text == content;
  };
  if (AlreadyInstalled(target, mode, content.size(), same)) return false;
  BANGER_TRY(ReplaceFileAtomically(target, {.mode = mode, .root_owned = true},
                                    [&](int out) { return WriteAll(out, content, "writing " + target); }));
  return true;
}

Result<DirChange> EnsureDir(const std::string& path, mode_t mode, std::vector<std::string>& created) {
  if (!IsCleanAbsolute(path) || path == "/") return Error{ErrorCode::kInvalidArgument, "not a clean absolute path: '" + path + "'"};
  bool made_leaf = false;
  for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string dir = path.substr(0, slash);
    const bool leaf = slash == std::string::npos;
    if (::mkdir(dir.c_str(), leaf ? mode : 0755) == 0) {
      if (::chown(dir.c_str(), 0, 0) != 0 || ::chmod(dir.c_str(), leaf ? mode : 0755) != 0) {
        return Error::FromErrno("setting owner and mode of " + dir);
      }
      if (std::find(created.begin(), created.end(), dir) == created.end()) created.push_back(dir);
      made_leaf = leaf;
    } else if (errno != EEXIST) {
      return Error::FromErrno("creating " + dir);
    }
    if (leaf) break;
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Error::FromErrno("stat " + path);
  if (!S_ISDIR(st.st_mode)) return Error{ErrorCode::kInvalidArgument, "not a directory: " + path};
  if (made_leaf) return DirChange::kCreated;
  if (st.st_uid == 0 && st.st_gid == 0 && (st.st_mode & 07777) == mode) return DirChange::kUnchanged;
  if (::chown(path.c_str(), 0, 0) != 0 || ::chmod(path.c_str(), mode) != 0) {
    return Error::FromErrno("setting owner and mode of " + path);
  }
  return DirChange::kFixed;
}

Result<bool> CreateSystemUser(const std::string& name) {
  const bool group_exists = ::getgrnam(name.c_str()) != nullptr;
  std::vector<std::string> argv = {"/usr/sbin/useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                                   "--shell", "/usr/sbin/nologin"};
  if (group_exists) {
    argv.insert(argv.end(), {"--gid", name});
  } else {
    argv.push_back("--user-group");
  }
  argv.push_back(name);
  BANGER_ASSIGN_OR_RETURN(ProcessOutput run, RunProgram(argv, "", 60000, kSystemProgramEnvironment));
  if (run.exit_status != 0) {
    std::string why = run.err.substr(0, run.err.find('\n'));
    return Error{ErrorCode::kIo, "useradd " + name + " failed (exit " + std::to_string(run.exit_status) + "): " + why};
  }
  return !group_exists;
}

Result<void> DeleteSystemUser(const std::string& name, bool remove_group) {
  if (::getpwnam(name.c_str()) != nullptr) {
    BANGER_ASSIGN_OR_RETURN(ProcessOutput run, RunProgram({"/usr/sbin/userdel", name}, "", 60000, kSystemProgramEnvironment));
    if (run.exit_status != 0) {
      return Error{ErrorCode::kIo, "userdel " + name + " failed (exit " + std::to_string(run.exit_status) +
                                       "): " + run.err.substr(0, run.err.find('\n'))};
    }
  }
  if (remove_group && ::getgrnam(name.c_str()) != nullptr) {
    BANGER_ASSIGN_OR_RETURN(ProcessOutput run, RunProgram({"/usr/sbin/groupdel", name}, "", 60000, kSystemProgramEnvironment));
    if (run.exit_status != 0) {
      return Error{ErrorCode::kIo, "groupdel " + name + " failed (exit " + std::to_string(run.exit_status) +
                                       "): " + run.err.substr(0, run.err.find('\n'))};
    }
  }
  return {};
}

bool IsProtectedPath(const std::string& path) {
  static const std::set<std::string> kSystem = {
      "/",         "/bin",      "/boot",          "/dev",       "/etc",     "/home",      "/lib",      "/lib64",
      "/media",    "/mnt",      "/opt",           "/proc",      "/root",    "/run",       "/sbin",     "/srv",
      "/sys",      "/tmp",      "/usr",           "/var",       "/usr/bin", "/usr/lib",   "/usr/local", "/usr/sbin",
      "/usr/share", "/var/lib", "/var/cache",     "/var/tmp",   "/var/log", "/usr/libexec", "/usr/local/bin",
      "/usr/local/libexec"};
  return !IsCleanAbsolute(path) || kSystem.count(path) != 0;
}

}  // namespace banger::broker
