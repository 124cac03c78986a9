#include "broker/helper_paths.h"

#include <unistd.h>

#include <climits>

namespace banger::broker {

Result<std::string> LocateHelperFrom(const std::string& banger_dir, security::ProcessKind kind) {
  const std::string name = security::HelperExecutableName(kind);
  for (const std::string& candidate : {banger_dir + "/" + name, banger_dir + "/../libexec/banger/" + name}) {
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return Error{ErrorCode::kNotFound, "helper " + name + " not found beside " + banger_dir +
                                         " or in its ../libexec/banger (is banger installed completely?)"};
}

Result<std::string> LocateHelper(security::ProcessKind kind) {
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return Error::FromErrno("readlink /proc/self/exe");
  std::string path(self, static_cast<size_t>(n));
  return LocateHelperFrom(path.substr(0, path.rfind('/')), kind);
}

Result<security::SandboxedChild> StartHelper(security::ProcessKind kind) {
  security::SpawnOptions spawn;
  BANGER_ASSIGN_OR_RETURN(spawn.executable, LocateHelper(kind));
  spawn.name = security::HelperExecutableName(kind);
  spawn.spec = security::SpecForCurrentBroker(kind);
  return security::SandboxedChild::Spawn(std::move(spawn));
}

}  // namespace banger::broker
