#include "broker/host/system_status.h"

#include <fcntl.h>
#include <unistd.h>

#include "base/fd.h"

namespace banger::broker {
namespace {

Result<security::ProcStatus> CheckHelper(const HelperLauncher& launcher, security::ProcessKind kind) {
  BANGER_ASSIGN_OR_RETURN(security::SandboxedChild child, launcher.Start(kind));
  BANGER_TRY(child.Send(ipc::Message::Make(ipc::MessageType::kPing)));
  BANGER_TRY(child.ReceiveExpecting({ipc::MessageType::kPong}, 10000));
  BANGER_TRY(child.Shutdown(10000));
  return child.status_at_lock();
}

// A small /proc or /sys file, without its trailing newline; "" when absent.
std::string ReadKernelValue(const std::string& path) {
  auto text = ReadSmallFile(path, 1 << 20);
  if (!text) return "";
  while (!text->empty() && (text->back() == '\n' || text->back() == ' ')) text->pop_back();
  return *text;
}

// seccomp: the Seccomp field exists in /proc/self/status; user namespaces are needed
// only when banger is not root.
KernelSupport CheckKernel() {
  KernelSupport kernel;
  kernel.seccomp = ReadKernelValue("/proc/self/status").find("\nSeccomp:") != std::string::npos;
  kernel.max_user_namespaces = ReadKernelValue("/proc/sys/user/max_user_namespaces");
  kernel.unprivileged_userns_clone = ReadKernelValue("/proc/sys/kernel/unprivileged_userns_clone");
  kernel.user_namespaces = !kernel.max_user_namespaces.empty() && kernel.max_user_namespaces != "0" &&
                           kernel.unprivileged_userns_clone != "0";
  return kernel;
}

}  // namespace

bool SystemStatus::AllConfined() const {
  for (const HelperConfinement& helper : helpers) {
    if (!helper.status) return false;
  }
  return true;
}

SystemStatus CheckSystem(const std::string& config_path, const Config& config, const HelperLauncher& launcher) {
  SystemStatus status;
  const size_t slash = config_path.rfind('/');
  status.config_dir = slash == std::string::npos ? "." : slash == 0 ? "/" : config_path.substr(0, slash);
  status.install = LoadManifest(status.config_dir);
  if (auto self = SelfExecutable()) status.banger = *self;
  status.kernel = CheckKernel();
  status.root = ::geteuid() == 0;
  if (status.root) status.helper_user = security::ResolveSandboxIdentity(config.user);
  for (auto kind : {security::ProcessKind::kFetcher, security::ProcessKind::kUnpacker, security::ProcessKind::kImager}) {
    const security::SandboxSpec spec = security::DefaultSpec(kind);
    status.helpers.push_back({kind, CheckHelper(launcher, kind), !spec.new_network_namespace,
                              !spec.readonly_binds.empty()});
  }
  return status;
}

}  // namespace banger::broker
