#include "broker/system_status.h"

#include <unistd.h>

#include <iomanip>
#include <ostream>

#include "broker/exit_codes.h"
#include "broker/helper_paths.h"
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

}  // namespace

int RunSystemStatus(std::ostream& out, std::ostream& err) {
  const bool root = ::geteuid() == 0;
  if (root) {
    security::SandboxIdentity who = security::ResolveSandboxIdentity();
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
