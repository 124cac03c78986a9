#include "broker/system_status.h"

#include <unistd.h>

#include <climits>
#include <fstream>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "broker/config.h"
#include "broker/exit_codes.h"
#include "broker/helper_paths.h"
#include "broker/install_manifest.h"
#include "broker/user_dirs.h"
#include "security/spawn.h"

namespace banger::broker {
namespace {

Result<security::ProcStatus> CheckHelper(security::ProcessKind kind) {
  BANGER_ASSIGN_OR_RETURN(std::string path, LocateHelper(kind));
  security::SpawnOptions options;
  options.executable = path;
  options.name = security::HelperExecutableName(kind);
  options.spec = security::SpecForCurrentBroker(kind);
  BANGER_ASSIGN_OR_RETURN(security::SandboxedChild child, security::SandboxedChild::Spawn(std::move(options)));
  BANGER_TRY(child.Send(ipc::Message::Make(ipc::MessageType::kPing)));
  BANGER_TRY(child.ReceiveExpecting({ipc::MessageType::kPong}, 10000));
  BANGER_TRY(child.Send(ipc::Message::Make(ipc::MessageType::kShutdown)));
  security::ChildExit end = child.Wait(10000);
  if (end.signaled || end.code != 0) {
    return Error{ErrorCode::kChildFailed, child.name() + " " + end.Describe() + " on shutdown"};
  }
  return child.status_at_lock();
}

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::string value = text.str();
  while (!value.empty() && (value.back() == '\n' || value.back() == ' ')) value.pop_back();
  return value;
}

// What the kernel offers the sandbox: seccomp (the Seccomp field exists in
// /proc/self/status) and user namespaces (needed only when banger is not root).
void ReportKernel(std::ostream& out) {
  const bool seccomp = ReadSmallFile("/proc/self/status").find("\nSeccomp:") != std::string::npos;
  const std::string max_ns = ReadSmallFile("/proc/sys/user/max_user_namespaces");
  const std::string clone = ReadSmallFile("/proc/sys/kernel/unprivileged_userns_clone");
  const bool userns = !max_ns.empty() && max_ns != "0" && clone != "0";
  out << "kernel: seccomp " << (seccomp ? "yes" : "NO") << "; userns " << (userns ? "yes" : "no") << " ("
      << "max_user_namespaces " << (max_ns.empty() ? "absent" : max_ns);
  if (!clone.empty()) out << ", unprivileged_userns_clone " << clone;
  out << (userns ? ")" : "; banger works only as root)") << "\n";
}

// The config in use, the install it belongs to, and where images and blobs go.
void ReportInstall(std::ostream& out, std::ostream& err) {
  const Config& config = ActiveConfig();
  const std::string path = config.path.empty() ? ConfigPath() : config.path;
  out << "config: " << path << (config.from_file ? "" : " (absent: defaults)") << "\n";
  const size_t slash = path.rfind('/');
  const std::string config_dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  auto manifest = LoadManifest(config_dir);
  if (!manifest) {
    out << "installed: unknown\n";
    err << "banger: error: " << manifest.error().message << "\n";
  } else if (!*manifest) {
    out << "installed: no (no " << config_dir << "/installed.json)\n";
  } else {
    const InstallManifest& m = **manifest;
    out << "installed: yes, in " << m.prefix << " (" << m.prefix << "/bin/banger, helpers in " << m.prefix
        << "/libexec/banger; " << m.path() << ")\n";
  }
  char self[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) out << "this banger: " << std::string(self, static_cast<size_t>(n)) << "\n";
  out << "images: " << DefaultStateRoot() << "/images  cache: " << DefaultCacheRoot() << "/oci\n";
}

}  // namespace

int RunSystemStatus(std::ostream& out, std::ostream& err) {
  const bool root = ::geteuid() == 0;
  ReportInstall(out, err);
  ReportKernel(out);
  if (root) {
    security::SandboxIdentity who = security::ResolveSandboxIdentity();
    const std::string& wanted = security::PreferredSandboxUser();
    if (!wanted.empty() && wanted != who.name) {
      out << "helper user: " << wanted << " (" << (ActiveConfig().from_file ? "the config's" : "the default")
          << " user) does not exist; falling back to " << who.name << " (banger system install creates it)\n";
    }
    out << "broker runs as root; helpers run as " << who.name << " (uid " << who.uid << ")\n";
  } else {
    out << "broker runs as uid " << ::geteuid() << "; helpers run in a user namespace\n";
  }
  bool all_ok = true;
  for (auto kind : {security::ProcessKind::kFetcher, security::ProcessKind::kUnpacker,
                    security::ProcessKind::kImager}) {
    const std::string name = security::HelperExecutableName(kind);
    const security::SandboxSpec spec = security::DefaultSpec(kind);
    auto status = CheckHelper(kind);
    out << "  " << std::left << std::setw(16) << name;
    if (!status) {
      all_ok = false;
      out << "FAILED\n";
      err << "banger: error: " << status.error().message << "\n";
      continue;
    }
    out << "confined  uid " << status->uids[1] << "  NoNewPrivs " << status->no_new_privs << "  Seccomp "
        << status->seccomp_mode << "  CapEff " << status->cap_eff << "  CapBnd " << status->cap_bnd
        << "  network " << (spec.new_network_namespace ? "none" : "host") << "  root "
        << (spec.readonly_binds.empty() ? "empty" : "empty + read-only binds") << "\n";
  }
  out << (all_ok ? "sandbox: ok\n" : "sandbox: NOT working on this system\n");
  return all_ok ? kExitOk : kExitSandbox;
}

}  // namespace banger::broker
