#include "broker/host/system_install.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "base/fd.h"
#include "broker/host/config.h"
#include "broker/host/helpers.h"
#include "broker/host/install_manifest.h"
#include "broker/host/service_files.h"
#include "broker/host/subprocess.h"
#include "broker/store/files.h"

namespace banger::broker {
namespace {

void Remember(std::vector<std::string>& list, const std::string& item) {
  if (std::find(list.begin(), list.end(), item) == list.end()) list.push_back(item);
}

size_t CountImages(const std::string& state_dir) {
  auto names = ListDirectory(state_dir + "/images");
  if (!names) return 0;
  return static_cast<size_t>(std::count_if(names->begin(), names->end(), [](const std::string& name) {
    return !name.ends_with(".staging") && !name.ends_with(".claim") && name[0] != '.';
  }));
}

// The manifest install works towards: an earlier install's, or a fresh one from the kept
// config and the defaults; then the request's values, which may not contradict an
// earlier install.
Result<InstallManifest> Plan(const InstallRequest& request) {
  BANGER_ASSIGN_OR_RETURN(std::string config_dir, CleanPathFlag("--config-dir", request.config_dir));
  BANGER_ASSIGN_OR_RETURN(std::optional<InstallManifest> earlier, LoadManifest(config_dir));
  BANGER_ASSIGN_OR_RETURN(Config kept, LoadConfigFrom(config_dir + "/config"));
  InstallManifest m;
  if (earlier) {
    m = *earlier;
  } else {
    m.config_dir = config_dir;
    m.prefix = "/usr/local";
    m.user = kept.user;
    m.state_dir = kept.state_dir.empty() ? "/var/lib/banger" : kept.state_dir;
    m.cache_dir = kept.cache_dir.empty() ? "/var/cache/banger" : kept.cache_dir;
  }
  struct Choice {
    const char* flag;
    const std::optional<std::string>& wanted;
    std::string* slot;
  };
  for (Choice choice : {Choice{"--prefix", request.prefix, &m.prefix}, Choice{"--state-dir", request.state_dir, &m.state_dir},
                        Choice{"--init-root", request.init_root, &m.init_root},
                        Choice{"--cache-dir", request.cache_dir, &m.cache_dir}, Choice{"--user", request.user, &m.user}}) {
    if (!choice.wanted) continue;
    std::string value = *choice.wanted;
    if (std::string(choice.flag) == "--user") {
      if (!IsValidSystemUserName(value)) {
        return Error{ErrorCode::kInvalidArgument,
                     "--user wants a system user name (lowercase letters, digits, '_', '-'), not '" + value + "'"};
      }
    } else {
      BANGER_ASSIGN_OR_RETURN(value, CleanPathFlag(choice.flag, value));
    }
    if (earlier && value != *choice.slot) {
      return Error{ErrorCode::kInvalidArgument, "banger is already installed with " + std::string(choice.flag) + " " +
                                                    *choice.slot + " (" + earlier->path() +
                                                    "); run 'banger system uninstall --config-dir " + config_dir +
                                                    "' first"};
    }
    *choice.slot = value;
  }
  if (m.state_dir == m.cache_dir) return Error{ErrorCode::kInvalidArgument, "the state and cache dirs must differ"};
  return m;
}

// banger and its helpers, found like a running banger finds them.
Result<void> InstallExecutables(InstallManifest& m, const std::string& self, SystemReport& report) {
  const std::string self_dir = self.substr(0, self.rfind('/'));
  std::vector<std::pair<std::string, std::string>> copies = {{self, m.prefix + "/bin/banger"},
                                                             {self_dir + "/bangerd", m.prefix + "/bin/bangerd"}};
  if (::access(copies[1].first.c_str(), X_OK) != 0) {
    return Error{ErrorCode::kNotFound, "bangerd is not beside banger (" + copies[1].first + ")"};
  }
  for (auto kind : {security::ProcessKind::kFetcher, security::ProcessKind::kUnpacker, security::ProcessKind::kImager}) {
    auto helper = LocateHelperFrom(self_dir, kind);
    if (!helper) return helper.error().Wrap(self);
    copies.push_back({*helper, m.prefix + "/libexec/banger/" + security::HelperExecutableName(kind)});
  }
  for (const std::string& dir : {m.prefix + "/bin", m.prefix + "/libexec/banger"}) {
    if (auto made = EnsureDir(dir, 0755, m.created_dirs); !made) return made.error().Wrap(dir);
  }
  for (const auto& [source, target] : copies) {
    auto copied = InstallCopy(source, target, 0755);
    if (!copied) return copied.error().Wrap(target);
    Remember(m.files, target);
    if (*copied) report.Changed("installed " + target);
  }
  return {};
}

// The completion script and the man page, 0644 under the prefix, each dir made as needed.
Result<void> InstallDocuments(InstallManifest& m, const InstallRequest& request, SystemReport& report) {
  for (const auto& [relative, text] : request.documents) {
    const std::string target = m.prefix + "/" + relative;
    std::string dir = m.prefix;
    for (size_t slash = relative.find('/'); slash != std::string::npos; slash = relative.find('/', slash + 1)) {
      dir = m.prefix + "/" + relative.substr(0, slash);
      if (auto made = EnsureDir(dir, 0755, m.created_dirs); !made) return made.error().Wrap(dir);
    }
    auto wrote = InstallContent(text, target, 0644);
    if (!wrote) return wrote.error().Wrap(target);
    Remember(m.files, target);
    if (*wrote) report.Changed("wrote " + target);
  }
  return {};
}

Result<void> EnsureUser(InstallManifest& m, SystemReport& report) {
  if (const passwd* pw = ::getpwnam(m.user.c_str()); pw != nullptr) {
    if (pw->pw_uid == 0) return Error{ErrorCode::kInvalidArgument, "user " + m.user + " has uid 0"};
    if (!m.user_created) report.Note("using the existing user " + m.user + " (uid " + std::to_string(pw->pw_uid) + ")");
    return {};
  }
  BANGER_ASSIGN_OR_RETURN(bool group_created, CreateSystemUser(m.user));
  m.user_created = true;
  m.group_created = group_created;
  const passwd* made = ::getpwnam(m.user.c_str());
  report.Changed("created the system user " + m.user + " (uid " + std::to_string(made != nullptr ? made->pw_uid : 0) + ")");
  return {};
}

// State, cache and config dirs, and the subdirectories the image store and blob cache use.
Result<void> EnsureDirectories(InstallManifest& m, SystemReport& report) {
  struct Dir {
    std::string path;
    mode_t mode;
  };
  for (const Dir& dir : {Dir{m.state_dir, 0700}, Dir{m.state_dir + "/images", 0700}, Dir{m.cache_dir, 0700},
                         Dir{m.cache_dir + "/oci", 0700}, Dir{m.config_dir, 0755}}) {
    auto change = EnsureDir(dir.path, dir.mode, m.created_dirs);
    if (!change) return change.error().Wrap(dir.path);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(dir.mode));
    if (*change == DirChange::kCreated) report.Changed("created " + dir.path + " (root, " + mode + ")");
    if (*change == DirChange::kFixed) report.Changed("set " + dir.path + " to root, " + mode);
  }
  return {};
}

// bangerd's systemd units and OpenRC script, rewritten from the config at each install;
// the socket enabled when systemd runs the host (a test's or a package's root is only
// written).
Result<void> InstallServiceFiles(InstallManifest& m, const InstallRequest& request, SystemReport& report) {
  BANGER_ASSIGN_OR_RETURN(Config config, LoadConfigFrom(m.config_file()));
  const ServiceSettings settings{m.prefix + "/bin/bangerd", m.config_file(), config.socket, config.socket_group,
                                 m.state_dir,               m.cache_dir,     DirectoryOf(config.audit_log)};
  const struct {
    std::string dir, name, text;
    mode_t mode;
  } files[] = {{m.systemd_dir(), kSocketUnitName, SystemdSocketUnit(settings), 0644},
               {m.systemd_dir(), kServiceUnitName, SystemdServiceUnit(settings), 0644},
               {m.openrc_dir(), kOpenRcScriptName, OpenRcScript(settings), 0755}};
  for (const auto& file : files) {
    if (auto made = EnsureDir(file.dir, 0755, m.created_dirs); !made) return made.error().Wrap(file.dir);
    const std::string path = file.dir + "/" + file.name;
    auto wrote = InstallContent(file.text, path, file.mode);
    if (!wrote) return wrote.error().Wrap(path);
    Remember(m.service_files, path);
    if (*wrote) report.Changed("wrote " + path);
  }
  const bool systemd_runs =
      request.systemd_running.value_or(m.init_root == "/" && ::access("/run/systemd/system", F_OK) == 0);
  if (!systemd_runs) {
    report.Note("bangerd: start it with 'systemctl enable --now banger.socket' (systemd), 'rc-update add banger "
                "default && rc-service banger start' (OpenRC), or '" + settings.bangerd + " --config " +
                m.config_file() + " --foreground'");
    return {};
  }
  for (const std::vector<std::string>& argv :
       {std::vector<std::string>{request.systemctl, "daemon-reload"},
        std::vector<std::string>{request.systemctl, "enable", "--now", kSocketUnitName}}) {
    BANGER_ASSIGN_OR_RETURN(ProcessOutput ran, RunProgram(argv, "", 60000, kSystemProgramEnvironment));
    if (ran.exit_status != 0) return Error{ErrorCode::kIo, argv[0] + " " + argv[1] + " failed: " + ran.err};
  }
  if (!m.service_enabled) report.Changed("enabled and started " + std::string(kSocketUnitName));
  m.service_enabled = true;
  return {};
}

// The config: written once, never overwritten.
Result<void> EnsureConfig(InstallManifest& m, SystemReport& report) {
  struct stat st {};
  if (::stat(m.config_file().c_str(), &st) == 0) {
    if (m.config_created) return {};
    report.Note("kept the existing " + m.config_file() + " (not overwritten)");
    BANGER_ASSIGN_OR_RETURN(Config kept, LoadConfigFrom(m.config_file()));
    if (kept.user != m.user) report.Note("note: it names user " + kept.user + ", not " + m.user);
    return {};
  }
  auto wrote = InstallContent(ConfigTemplate(m.user, m.state_dir, m.cache_dir), m.config_file(), 0644);
  if (!wrote) return wrote.error().Wrap(m.config_file());
  m.config_created = true;
  report.Changed("wrote " + m.config_file());
  return {};
}

}  // namespace

Result<std::string> CleanPathFlag(const std::string& flag, std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  if (!IsCleanAbsolutePath(path)) {
    return Error{ErrorCode::kInvalidArgument, flag + " wants a clean absolute path, not '" + path + "'"};
  }
  return path;
}

Result<void> InstallSystem(const InstallRequest& request, const std::string& banger_executable, SystemReport& report) {
  BANGER_ASSIGN_OR_RETURN(InstallManifest m, Plan(request));
  BANGER_TRY(InstallExecutables(m, banger_executable, report));
  BANGER_TRY(InstallDocuments(m, request, report));
  BANGER_TRY(EnsureUser(m, report));
  BANGER_TRY(EnsureDirectories(m, report));
  BANGER_TRY(EnsureConfig(m, report));
  BANGER_TRY(InstallServiceFiles(m, request, report));
  auto recorded = InstallContent(ManifestText(m), m.path(), 0644);
  if (!recorded) return recorded.error().Wrap(m.path());
  if (*recorded) report.Note("recorded the install in " + m.path());
  if (report.changes == 0 && !*recorded) {
    report.Note("nothing to do: banger is already installed in " + m.prefix + " (" + m.path() + ")");
  } else {
    report.Note("banger is installed in " + m.prefix + "; its helpers run as " + m.user);
  }
  if (m.config_file() != kDefaultConfigPath) {
    report.Note("note: banger reads " + std::string(kDefaultConfigPath) + "; set BANGER_CONFIG=" + m.config_file() +
                " to use this one");
  }
  return {};
}

namespace {

// The removals of one uninstall, each said as it is done; failures are collected.
class Remover {
 public:
  explicit Remover(SystemReport& report) : report_(report) {}
  void File(const std::string& path) {
    if (::unlink(path.c_str()) == 0) {
      report_.Changed("removed " + path);
    } else if (errno != ENOENT) {
      failures_.push_back({Error::FromErrno("removing"), path});
    }
  }
  void Tree(const std::string& dir, const std::string& what) {
    if (IsProtectedPath(dir)) {
      failures_.push_back({Error{ErrorCode::kInvalidArgument, "refusing to remove a system directory"}, dir});
      return;
    }
    struct stat st {};
    if (::lstat(dir.c_str(), &st) != 0) return;
    RemoveTree(dir);
    if (::lstat(dir.c_str(), &st) == 0) {
      failures_.push_back({Error{ErrorCode::kIo, "removing: some of it is still there"}, dir});
    } else {
      report_.Changed("removed " + dir + " (" + what + ")");
    }
  }
  void Failed(Error error, std::string path) { failures_.push_back({std::move(error), std::move(path)}); }
  std::vector<UninstallFailure>& failures() { return failures_; }

 private:
  SystemReport& report_;
  std::vector<UninstallFailure> failures_;
};

void RemoveUser(const InstallManifest& m, Remover& remove, SystemReport& report) {
  if (!m.user_created) return report.Note("kept the user " + m.user + " (it existed before install)");
  const bool present = ::getpwnam(m.user.c_str()) != nullptr;
  if (auto gone = DeleteSystemUser(m.user, m.group_created); !gone) {
    remove.Failed(gone.error(), "");
  } else if (present) {
    report.Changed("removed the system user " + m.user);
  }
}

}  // namespace

Result<std::vector<UninstallFailure>> UninstallSystem(const std::string& config_dir_flag, bool purge,
                                                      SystemReport& report, const std::string& systemctl) {
  BANGER_ASSIGN_OR_RETURN(std::string config_dir, CleanPathFlag("--config-dir", config_dir_flag));
  BANGER_ASSIGN_OR_RETURN(std::optional<InstallManifest> loaded, LoadManifest(config_dir));
  if (!loaded) {
    return Error{ErrorCode::kNotFound, "banger is not installed here: no install manifest (" + config_dir + "/installed.json)"};
  }
  const InstallManifest& m = *loaded;
  Remover remove(report);
  if (m.service_enabled) {
    auto stopped = RunProgram({systemctl, "disable", "--now", kSocketUnitName, kServiceUnitName}, "", 90000,
                              kSystemProgramEnvironment);
    if (!stopped || stopped->exit_status != 0) {
      remove.Failed(stopped ? Error{ErrorCode::kIo, "systemctl disable failed: " + stopped->err} : stopped.error(), "");
    } else {
      report.Changed("stopped and disabled bangerd");
    }
  }
  for (const std::string& file : m.service_files) remove.File(file);
  for (const std::string& file : m.files) remove.File(file);
  if (m.config_created) {
    remove.File(m.config_file());
  } else if (::access(m.config_file().c_str(), F_OK) == 0) {
    report.Note("kept " + m.config_file() + " (it was there before install)");
  }
  RemoveUser(m, remove, report);
  if (purge) {
    remove.Tree(m.state_dir, "state: every pulled image");
    remove.Tree(m.cache_dir, "cache");
  } else {
    if (m.Created(m.cache_dir)) remove.Tree(m.cache_dir, "cache");
    if (const size_t images = CountImages(m.state_dir); images > 0) {
      report.Note("kept " + std::to_string(images) + " image(s) in " + m.state_dir + "/images (--purge removes them)");
    }
  }
  if (!remove.failures().empty()) return std::move(remove.failures());
  remove.File(m.path());
  // Directories install created, deepest first, once they are empty.
  for (auto dir = m.created_dirs.rbegin(); dir != m.created_dirs.rend(); ++dir) {
    if (::rmdir(dir->c_str()) == 0) report.Changed("removed " + *dir + "/");
  }
  report.Note("banger is uninstalled from " + m.prefix);
  return std::vector<UninstallFailure>{};
}

}  // namespace banger::broker
