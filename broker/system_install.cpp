#include "broker/system_install.h"

#include <dirent.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <ostream>

#include "broker/cli_output.h"
#include "broker/config.h"
#include "broker/exit_codes.h"
#include "broker/flags.h"
#include "broker/helper_paths.h"
#include "broker/install_manifest.h"

namespace banger::broker {
namespace {

constexpr const char* kInstallUsage =
    "usage: banger system install [--prefix DIR] [--user NAME] [--config-dir DIR]\n"
    "                             [--state-dir DIR] [--cache-dir DIR]\n"
    "\n"
    "Installs this banger as PREFIX/bin/banger and its helpers in PREFIX/libexec/banger/\n"
    "(root:root 0755, each through a temporary file and a rename); creates the system user\n"
    "the sandboxed helpers run as (no home, no login shell) unless it exists; creates the\n"
    "state dir (0700) with images/ and the cache dir (0755) with oci/, both root's; writes\n"
    "CONFIG_DIR/config (a documented template; an existing config is kept, never\n"
    "overwritten); and records what it made in CONFIG_DIR/installed.json, which\n"
    "`banger system uninstall` follows. Running it again changes nothing that is already\n"
    "so. Needs root. See docs/install.md.\n"
    "\n"
    "  --prefix DIR      where bin/ and libexec/banger/ go (/usr/local)\n"
    "  --user NAME       the helpers' system user (banger)\n"
    "  --config-dir DIR  where config and installed.json go (/etc/banger); banger reads\n"
    "                    /etc/banger/config unless $BANGER_CONFIG names another file\n"
    "  --state-dir DIR   pulled images, DIR/images (/var/lib/banger)\n"
    "  --cache-dir DIR   cached registry blobs, DIR/oci (/var/cache/banger)\n"
    "\n"
    "Without a flag, a value comes from an earlier install's installed.json, else from an\n"
    "existing CONFIG_DIR/config, else the default shown.\n";

constexpr const char* kUninstallUsage =
    "usage: banger system uninstall [--config-dir DIR] [--purge]\n"
    "\n"
    "Removes what `banger system install` recorded in CONFIG_DIR/installed.json: the\n"
    "banger executable and helpers, the config (if install wrote it), the system user (if\n"
    "install created it), the cache dir (if install created it), the directories install\n"
    "created once they are empty, and the record itself. Pulled images in the state dir are\n"
    "kept. Needs root.\n"
    "\n"
    "  --config-dir DIR  where installed.json is (/etc/banger)\n"
    "  --purge           also remove the state dir with every pulled image, and the cache dir\n";


Result<std::string> PathFlag(const ParsedFlags& flags, const std::string& flag, const std::string& fallback) {
  std::string path = flags.Value(flag).value_or(fallback);
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  if (!IsCleanAbsolutePath(path)) {
    return Error{ErrorCode::kInvalidArgument, flag + " wants a clean absolute path, not '" + path + "'"};
  }
  return path;
}

Result<std::string> SelfExecutable() {
  char self[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return Error::FromErrno("readlink /proc/self/exe");
  return std::string(self, static_cast<size_t>(n));
}

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

// The values install uses: a flag, else an earlier install's, else the kept config's,
// else the default.
struct Plan {
  InstallManifest manifest;  // what exists already (or a fresh one)
  bool reinstall = false;
};

Result<Plan> MakePlan(const ParsedFlags& flags) {
  Plan plan;
  BANGER_ASSIGN_OR_RETURN(plan.manifest.config_dir, PathFlag(flags, "--config-dir", "/etc/banger"));
  BANGER_ASSIGN_OR_RETURN(std::optional<InstallManifest> earlier, LoadManifest(plan.manifest.config_dir));
  BANGER_ASSIGN_OR_RETURN(Config kept, LoadConfigFrom(plan.manifest.config_dir + "/config"));
  InstallManifest& m = plan.manifest;
  if (earlier) {
    m = *earlier;
    plan.reinstall = true;
  } else {
    m.prefix = "/usr/local";
    m.user = kept.user;
    m.state_dir = kept.state_dir.empty() ? "/var/lib/banger" : kept.state_dir;
    m.cache_dir = kept.cache_dir.empty() ? "/var/cache/banger" : kept.cache_dir;
  }
  const std::string config_dir = m.config_dir;
  struct Choice {
    const char* flag;
    std::string* slot;
  };
  for (Choice choice : {Choice{"--prefix", &m.prefix}, Choice{"--state-dir", &m.state_dir},
                        Choice{"--cache-dir", &m.cache_dir}, Choice{"--user", &m.user}}) {
    const std::string flag = choice.flag;
    if (!flags.Value(flag)) continue;
    std::string value = *flags.Value(flag);
    if (flag == "--user") {
      if (!IsValidSystemUserName(value)) {
        return Error{ErrorCode::kInvalidArgument, "--user wants a system user name (lowercase letters, digits, "
                                                  "'_', '-'), not '" + value + "'"};
      }
    } else {
      BANGER_ASSIGN_OR_RETURN(value, PathFlag(flags, flag, ""));
    }
    if (earlier && value != *choice.slot) {
      return Error{ErrorCode::kInvalidArgument,
                   "banger is already installed with " + flag + " " + *choice.slot + " (" + earlier->path() +
                       "); run 'banger system uninstall --config-dir " + config_dir + "' first"};
    }
    *choice.slot = value;
  }
  if (m.state_dir == m.cache_dir) return Error{ErrorCode::kInvalidArgument, "the state and cache dirs must differ"};
  return plan;
}

int Install(const ParsedFlags& flags, std::ostream& out, std::ostream& err) {
  auto planned = MakePlan(flags);
  if (!planned) return ReportError(err, planned.error(), "");
  InstallManifest m = planned->manifest;
  int changes = 0;
  auto fail = [&](const Error& e, const std::string& context) {
    ReportError(err, e, context);
    if (changes > 0) err << "banger: " << changes << " change(s) were made before this; run install again once fixed\n";
    return kExitError;
  };

  // The executables, found like a running banger finds them.
  auto self = SelfExecutable();
  if (!self) return fail(self.error(), "");
  std::vector<std::pair<std::string, std::string>> copies = {{*self, m.prefix + "/bin/banger"}};
  for (auto kind : {security::ProcessKind::kFetcher, security::ProcessKind::kUnpacker, security::ProcessKind::kImager}) {
    auto helper = LocateHelper(kind);
    if (!helper) return fail(helper.error(), *self);
    copies.push_back({*helper, m.prefix + "/libexec/banger/" + security::HelperExecutableName(kind)});
  }
  for (const std::string& dir : {m.prefix + "/bin", m.prefix + "/libexec/banger"}) {
    if (auto made = EnsureDir(dir, 0755, m.created_dirs); !made) return fail(made.error(), dir);
  }
  for (const auto& [source, target] : copies) {
    auto copied = InstallCopy(source, target, 0755);
    if (!copied) return fail(copied.error(), target);
    Remember(m.files, target);
    if (*copied) {
      out << "installed " << target << "\n";
      ++changes;
    }
  }

  // The helpers' user.
  if (const passwd* pw = ::getpwnam(m.user.c_str()); pw != nullptr) {
    if (pw->pw_uid == 0) return fail(Error{ErrorCode::kInvalidArgument, "user " + m.user + " has uid 0"}, "");
    if (!m.user_created) out << "using the existing user " << m.user << " (uid " << pw->pw_uid << ")\n";
  } else {
    auto group_created = CreateSystemUser(m.user);
    if (!group_created) return fail(group_created.error(), "");
    m.user_created = true;
    m.group_created = *group_created;
    const passwd* made = ::getpwnam(m.user.c_str());
    out << "created the system user " << m.user << " (uid " << (made != nullptr ? made->pw_uid : 0) << ")\n";
    ++changes;
  }

  // State, cache and config dirs; the subdirectories the image store and blob cache use.
  struct Dir {
    std::string path;
    mode_t mode;
  };
  for (const Dir& dir : {Dir{m.state_dir, 0700}, Dir{m.state_dir + "/images", 0755}, Dir{m.cache_dir, 0755},
                         Dir{m.cache_dir + "/oci", 0755}, Dir{m.config_dir, 0755}}) {
    auto change = EnsureDir(dir.path, dir.mode, m.created_dirs);
    if (!change) return fail(change.error(), dir.path);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(dir.mode));
    if (*change == DirChange::kCreated) out << "created " << dir.path << " (root, " << mode << ")\n";
    if (*change == DirChange::kFixed) out << "set " << dir.path << " to root, " << mode << "\n";
    if (*change != DirChange::kUnchanged) ++changes;
  }

  // The config: written once, never overwritten.
  struct stat st;
  if (::stat(m.config_file().c_str(), &st) == 0) {
    if (!m.config_created) {
      out << "kept the existing " << m.config_file() << " (not overwritten)\n";
      auto kept = LoadConfigFrom(m.config_file());
      if (!kept) return fail(kept.error(), "");
      if (kept->user != m.user) out << "note: it names user " << kept->user << ", not " << m.user << "\n";
    }
  } else {
    auto wrote = InstallContent(ConfigTemplate(m.user, m.state_dir, m.cache_dir), m.config_file(), 0644);
    if (!wrote) return fail(wrote.error(), m.config_file());
    m.config_created = true;
    out << "wrote " << m.config_file() << "\n";
    ++changes;
  }

  auto recorded = InstallContent(ManifestText(m), m.path(), 0644);
  if (!recorded) return fail(recorded.error(), m.path());
  if (*recorded) out << "recorded the install in " << m.path() << "\n";
  if (changes == 0 && !*recorded) {
    out << "nothing to do: banger is already installed in " << m.prefix << " (" << m.path() << ")\n";
  } else {
    out << "banger is installed in " << m.prefix << "; its helpers run as " << m.user << "\n";
  }
  if (m.config_file() != kDefaultConfigPath) {
    out << "note: banger reads " << kDefaultConfigPath << "; set BANGER_CONFIG=" << m.config_file()
        << " to use this one\n";
  }
  return kExitOk;
}

int Uninstall(const ParsedFlags& flags, std::ostream& out, std::ostream& err) {
  auto config_dir = PathFlag(flags, "--config-dir", "/etc/banger");
  if (!config_dir) return ReportError(err, config_dir.error(), "");
  auto loaded = LoadManifest(*config_dir);
  if (!loaded) return ReportError(err, loaded.error(), "");
  if (!*loaded) {
    return ReportError(err, Error{ErrorCode::kNotFound, "banger is not installed here: no install manifest"},
                       *config_dir + "/installed.json");
  }
  const InstallManifest& m = **loaded;
  const bool purge = flags.Has("--purge");
  int failures = 0;
  auto failed = [&](const Error& e, const std::string& context) {
    ReportError(err, e, context);
    ++failures;
  };
  auto remove_file = [&](const std::string& path) {
    if (::unlink(path.c_str()) == 0) {
      out << "removed " << path << "\n";
    } else if (errno != ENOENT) {
      failed(Error::FromErrno("removing"), path);
    }
  };
  auto remove_tree = [&](const std::string& dir, const std::string& what) {
    if (IsProtectedPath(dir)) return failed(Error{ErrorCode::kInvalidArgument, "refusing to remove a system directory"}, dir);
    std::error_code ec;
    if (std::filesystem::remove_all(dir, ec) > 0 && !ec) out << "removed " << dir << " (" << what << ")\n";
    if (ec) failed(Error{ErrorCode::kIo, "removing: " + ec.message()}, dir);
  };

  for (const std::string& file : m.files) remove_file(file);
  if (m.config_created) {
    remove_file(m.config_file());
  } else if (::access(m.config_file().c_str(), F_OK) == 0) {
    out << "kept " << m.config_file() << " (it was there before install)\n";
  }
  if (m.user_created) {
    const bool present = ::getpwnam(m.user.c_str()) != nullptr;
    if (auto gone = DeleteSystemUser(m.user, m.group_created); !gone) {
      failed(gone.error(), "");
    } else if (present) {
      out << "removed the system user " << m.user << "\n";
    }
  } else {
    out << "kept the user " << m.user << " (it existed before install)\n";
  }
  if (purge) {
    remove_tree(m.state_dir, "state: every pulled image");
    remove_tree(m.cache_dir, "cache");
  } else {
    if (m.Created(m.cache_dir)) remove_tree(m.cache_dir, "cache");
    if (const size_t images = CountImages(m.state_dir); images > 0) {
      out << "kept " << images << " image(s) in " << m.state_dir << "/images (--purge removes them)\n";
    }
  }
  if (failures > 0) {
    err << "banger: kept " << m.path() << " after " << failures << " failure(s); run uninstall again once fixed\n";
    return kExitError;
  }
  remove_file(m.path());
  // Directories install created, deepest first, once they are empty.
  for (auto dir = m.created_dirs.rbegin(); dir != m.created_dirs.rend(); ++dir) {
    if (::rmdir(dir->c_str()) == 0) out << "removed " << *dir << "/\n";
  }
  out << "banger is uninstalled from " << m.prefix << "\n";
  return kExitOk;
}

}  // namespace

int RunSystemInstall(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  auto flags = ParseFlags(args, FlagSpec{{"--prefix", "--user", "--config-dir", "--state-dir", "--cache-dir"},
                                         {"--help", "-h"}, {}});
  if (!flags) return ReportUsage(err, flags.error().message, "system install");
  if (flags->Has("--help") || flags->Has("-h")) {
    out << kInstallUsage;
    return kExitOk;
  }
  if (!flags->positional.empty()) return ReportUsage(err, "system install takes no arguments", "system install");
  if (::geteuid() != 0) return ReportError(err, Error{ErrorCode::kInvalidArgument, "system install needs root"}, "");
  return Install(*flags, out, err);
}

int RunSystemUninstall(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  auto flags = ParseFlags(args, FlagSpec{{"--config-dir"}, {"--purge", "--help", "-h"}, {}});
  if (!flags) return ReportUsage(err, flags.error().message, "system uninstall");
  if (flags->Has("--help") || flags->Has("-h")) {
    out << kUninstallUsage;
    return kExitOk;
  }
  if (!flags->positional.empty()) return ReportUsage(err, "system uninstall takes no arguments", "system uninstall");
  if (::geteuid() != 0) return ReportError(err, Error{ErrorCode::kInvalidArgument, "system uninstall needs root"}, "");
  return Uninstall(*flags, out, err);
}

}  // namespace banger::broker
