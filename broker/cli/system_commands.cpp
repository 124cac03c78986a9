#include "broker/cli/commands.h"

#include <sys/stat.h>
#include <unistd.h>

#include <iomanip>
#include <ostream>

#include <nlohmann/json.hpp>

#include "broker/cli/exit_codes.h"
#include "broker/cli/flags.h"
#include "broker/cli/help.h"
#include "broker/cli/output.h"
#include "broker/host/system_install.h"
#include "broker/host/system_status.h"
#include "broker/host/user_dirs.h"

namespace banger::broker {
namespace {

constexpr const char* kInstallUsage =
    "usage: banger system install [--prefix DIR] [--user NAME] [--config-dir DIR]\n"
    "                             [--state-dir DIR] [--cache-dir DIR] [--init-root DIR]\n"
    "\n"
    "Installs this banger and bangerd in PREFIX/bin/ and its helpers in PREFIX/libexec/banger/\n"
    "(root:root 0755, each through a temporary file and a rename), with its bash completion\n"
    "(PREFIX/share/bash-completion/completions/banger) and man page (PREFIX/share/man/man1/\n"
    "banger.1); creates the system user\n"
    "the sandboxed helpers run as (no home, no login shell) unless it exists; creates the\n"
    "state dir (0700) with images/ and the cache dir (0700) with oci/, both root's; writes\n"
    "CONFIG_DIR/config (a documented template; an existing config is kept, never\n"
    "overwritten); and records what it made in CONFIG_DIR/installed.json, which\n"
    "`banger system uninstall` follows. It also writes bangerd's systemd units\n"
    "(banger.socket, banger.service) and OpenRC script (banger) from the config, and when\n"
    "systemd runs the host, enables and starts banger.socket. Running it again changes\n"
    "nothing that is already so. Needs root. See docs/install.md and docs/multi-tenant.md.\n"
    "\n"
    "  --prefix DIR      where bin/ and libexec/banger/ go (/usr/local)\n"
    "  --user NAME       the helpers' system user (banger)\n"
    "  --config-dir DIR  where config and installed.json go (/etc/banger); banger reads\n"
    "                    /etc/banger/config unless $BANGER_CONFIG names another file\n"
    "  --state-dir DIR   pulled images, DIR/images (/var/lib/banger)\n"
    "  --cache-dir DIR   cached registry blobs, DIR/oci (/var/cache/banger)\n"
    "  --init-root DIR   where etc/systemd/system and etc/init.d are (/); another root only\n"
    "                    gets the files (a package's staging tree)\n"
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

constexpr const char* kStatusUsage =
    "usage: banger system status [--json]\n\n"
    "Shows the config file in use, whether banger is installed (CONFIG_DIR/installed.json)\n"
    "and where, where images and cached blobs go, and whether the kernel offers seccomp\n"
    "and user namespaces; then starts each helper in its sandbox and reports what /proc\n"
    "says about it, with the user it runs as; and where the audit log is and whether each\n"
    "record's hash also goes to syslog. Exit 3 when a helper is not confined. --json prints\n"
    "the same as one result event (docs/cli.md).\n";

void PrintLines(std::ostream& out, const SystemReport& report) {
  for (const std::string& line : report.lines) out << line << "\n";
}

// The config in use, the install it belongs to, and where images and blobs go.
void PrintInstall(const CliContext& context, const SystemStatus& status, std::ostream& out, std::ostream& err) {
  out << "config: " << context.config_path << (context.config.from_file ? "" : " (absent: defaults)") << "\n";
  if (!status.install) {
    out << "installed: unknown\n";
    ReportError(err, status.install.error(), "");
  } else if (!*status.install) {
    out << "installed: no (no " << status.config_dir << "/installed.json)\n";
  } else {
    const InstallManifest& m = **status.install;
    out << "installed: yes, in " << m.prefix << " (" << m.prefix << "/bin/banger, helpers in " << m.prefix
        << "/libexec/banger; " << m.path() << ")\n";
  }
  if (!status.banger.empty()) out << "this banger: " << status.banger << "\n";
  out << "images: " << context.StateRoot() << "/images  cache: " << context.CacheRoot() << "/oci\n";
}

void PrintKernel(const KernelSupport& kernel, std::ostream& out) {
  out << "kernel: seccomp " << (kernel.seccomp ? "yes" : "NO") << "; userns " << (kernel.user_namespaces ? "yes" : "no")
      << " (max_user_namespaces " << (kernel.max_user_namespaces.empty() ? "absent" : kernel.max_user_namespaces);
  if (!kernel.unprivileged_userns_clone.empty()) out << ", unprivileged_userns_clone " << kernel.unprivileged_userns_clone;
  out << (kernel.user_namespaces ? ")" : "; banger works only as root)") << "\n";
}

void PrintHelpers(const CliContext& context, const SystemStatus& status, std::ostream& out, std::ostream& err) {
  if (status.root) {
    const std::string& wanted = context.config.user;
    if (!wanted.empty() && wanted != status.helper_user.name) {
      out << "helper user: " << wanted << " (" << (context.config.from_file ? "the config's" : "the default")
          << " user) does not exist; falling back to " << status.helper_user.name
          << " (banger system install creates it)\n";
    }
    out << "broker runs as root; helpers run as " << status.helper_user.name << " (uid " << status.helper_user.uid
        << ")\n";
  } else {
    out << "broker runs as uid " << ::geteuid() << "; helpers run in a user namespace\n";
  }
  for (const HelperConfinement& helper : status.helpers) {
    out << "  " << std::left << std::setw(16) << security::HelperExecutableName(helper.kind);
    if (!helper.status) {
      out << "FAILED\n";
      ReportError(err, helper.status.error(), "");
      continue;
    }
    const security::ProcStatus& s = *helper.status;
    out << "confined  uid " << s.uids[1] << "  NoNewPrivs " << s.no_new_privs << "  Seccomp " << s.seccomp_mode
        << "  CapEff " << s.cap_eff << "  CapBnd " << s.cap_bnd << "  network "
        << (helper.network                                    ? "host"
            : helper.kind == security::ProcessKind::kFetcher ? "none (the broker connects for it)"
                                                              : "none")
        << "  root " << (helper.readonly_binds ? "empty + read-only binds" : "empty") << "\n";
  }
}

// Where requests are recorded, and whether the chain has its anchor outside the file.
void PrintAudit(const Config& config, std::ostream& out) {
  out << "audit log: " << config.audit_log;
  struct stat st {};
  if (config.audit_syslog.empty()) {
    out << " (record hashes go nowhere else: audit_syslog = none)\n";
  } else if (::stat(config.audit_syslog.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) {
    out << " (no syslog socket at " << config.audit_syslog << ": record hashes stay in the file)\n";
  } else {
    out << " (record hashes to syslog at " << config.audit_syslog << ")\n";
  }
}

// The same facts as one --json result event (docs/cli.md); a helper that failed, or an
// install record that could not be read, is also an error line on `err`.
nlohmann::json StatusJson(const CliContext& context, const SystemStatus& status, std::ostream& err) {
  nlohmann::json install = nullptr;
  if (!status.install) {
    ReportError(err, status.install.error(), "");
  } else if (*status.install) {
    install = {{"prefix", (*status.install)->prefix}, {"manifest", (*status.install)->path()}};
  }
  nlohmann::json helpers = nlohmann::json::array();
  for (const HelperConfinement& helper : status.helpers) {
    nlohmann::json h = {{"name", security::HelperExecutableName(helper.kind)}, {"confined", helper.status.ok()}};
    if (!helper.status) {
      ReportError(err, helper.status.error(), "");
    } else {
      const security::ProcStatus& s = *helper.status;
      h.update({{"uid", s.uids[1]}, {"no_new_privs", s.no_new_privs}, {"seccomp_mode", s.seccomp_mode},
                {"cap_eff", s.cap_eff}, {"cap_bnd", s.cap_bnd}, {"host_network", helper.network}});
    }
    helpers.push_back(std::move(h));
  }
  return {{"event", "result"},
          {"config", {{"path", context.config_path}, {"from_file", context.config.from_file}}},
          {"installed", install},
          {"banger", status.banger},
          {"images_dir", context.StateRoot() + "/images"},
          {"cache_dir", context.CacheRoot() + "/oci"},
          {"kernel", {{"seccomp", status.kernel.seccomp}, {"user_namespaces", status.kernel.user_namespaces}}},
          {"helpers_run_as", status.root ? status.helper_user.name : "a user namespace"},
          {"helpers", helpers},
          {"audit_log", context.config.audit_log},
          {"sandbox_ok", status.AllConfined()}};
}

int Status(const CliContext& context, const ParsedFlags& flags, std::ostream& out, std::ostream& err) {
  auto helpers = context.Helpers();
  if (!helpers) return ReportError(err, helpers.error(), "");
  const SystemStatus status = CheckSystem(context.config_path, context.config, HelperLauncher(std::move(*helpers)));
  if (flags.Has("--json")) {
    EmitJsonEvent(out, StatusJson(context, status, err));
    return status.AllConfined() ? kExitOk : kExitSandbox;
  }
  PrintInstall(context, status, out, err);
  PrintKernel(status.kernel, out);
  PrintHelpers(context, status, out, err);
  PrintAudit(context.config, out);
  const bool ok = status.AllConfined();
  out << (ok ? "sandbox: ok\n" : "sandbox: NOT working on this system\n");
  return ok ? kExitOk : kExitSandbox;
}

int Install(const CliContext&, const ParsedFlags& flags, std::ostream& out, std::ostream& err) {
  auto self = SelfExecutable();
  if (!self) return ReportError(err, self.error(), "");
  InstallRequest request;
  request.config_dir = flags.Value("--config-dir").value_or(request.config_dir);
  request.prefix = flags.Value("--prefix");
  request.user = flags.Value("--user");
  request.state_dir = flags.Value("--state-dir");
  request.cache_dir = flags.Value("--cache-dir");
  request.init_root = flags.Value("--init-root");
  request.documents = {{"share/bash-completion/completions/banger", BashCompletion()},
                       {"share/man/man1/banger.1", ManPage()}};
  SystemReport report;
  auto installed = InstallSystem(request, *self, report);
  PrintLines(out, report);
  if (installed) return kExitOk;
  ReportError(err, installed.error(), "");
  if (report.changes > 0) {
    err << "banger: " << report.changes << " change(s) were made before this; run install again once fixed\n";
  }
  return kExitError;
}

int Uninstall(const CliContext&, const ParsedFlags& flags, std::ostream& out, std::ostream& err) {
  SystemReport report;
  const std::string config_dir = flags.Value("--config-dir").value_or("/etc/banger");
  auto failures = UninstallSystem(config_dir, flags.Has("--purge"), report);
  PrintLines(out, report);
  if (!failures) return ReportError(err, failures.error(), "");
  if (failures->empty()) return kExitOk;
  for (const UninstallFailure& failure : *failures) ReportError(err, failure.error, failure.path);
  err << "banger: kept " << config_dir << "/installed.json after " << failures->size()
      << " failure(s); run uninstall again once fixed\n";
  return kExitError;
}

}  // namespace

const Command& SystemStatusCommand() {
  static const Command command{{"system status", kStatusUsage, {.booleans = {"--json"}}}, /*reads_config=*/true, Status,
                               /*audited=*/true};
  return command;
}

const Command& SystemInstallCommand() {
  static const Command command{{"system install", kInstallUsage,
                                {{"--prefix", "--user", "--config-dir", "--state-dir", "--cache-dir", "--init-root"}}, {},
                                /*needs_root=*/true},
                               /*reads_config=*/false, Install, /*audited=*/true};
  return command;
}

const Command& SystemUninstallCommand() {
  static const Command command{{"system uninstall", kUninstallUsage, {{"--config-dir"}, {"--purge"}}, {},
                                /*needs_root=*/true},
                               /*reads_config=*/false, Uninstall, /*audited=*/true};
  return command;
}

}  // namespace banger::broker
