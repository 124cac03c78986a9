#include "broker/host/helpers.h"

#include <sys/stat.h>
#include <unistd.h>

#include <climits>

namespace banger::broker {

Result<std::string> SelfExecutable() {
  char self[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return Error::FromErrno("readlink /proc/self/exe");
  return std::string(self, static_cast<size_t>(n));
}

Result<std::string> SelfDirectory() {
  BANGER_ASSIGN_OR_RETURN(std::string self, SelfExecutable());
  return self.substr(0, self.rfind('/'));
}

Result<std::string> LocateHelperFrom(const std::string& banger_dir, security::ProcessKind kind) {
  const std::string name = security::HelperExecutableName(kind);
  for (const std::string& candidate : {banger_dir + "/" + name, banger_dir + "/../libexec/banger/" + name}) {
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return Error{ErrorCode::kNotFound, "helper " + name + " not found beside " + banger_dir +
                                         " or in its ../libexec/banger (is banger installed completely?)"};
}

Result<std::string> HelperLauncher::Locate(security::ProcessKind kind) const {
  return LocateHelperFrom(settings_.banger_dir, kind);
}

Result<security::SandboxedChild> HelperLauncher::Start(security::ProcessKind kind, std::vector<UniqueFd> passed) const {
  security::SpawnOptions spawn;
  BANGER_ASSIGN_OR_RETURN(spawn.executable, Locate(kind));
  spawn.name = security::HelperExecutableName(kind);
  spawn.spec = security::SpecForCurrentBroker(kind, settings_.sandbox_user);
  if (!spawn.spec.use_user_namespace && settings_.helper_uid) {
    spawn.spec.uid = settings_.helper_uid->uid();
    spawn.spec.gid = static_cast<gid_t>(settings_.helper_uid->uid());
  }
  spawn.stop_fd = settings_.stop_fd;
  if (kind == security::ProcessKind::kFetcher) spawn.environment = settings_.fetcher_environment;
  spawn.passed_fds = std::move(passed);
  return security::SandboxedChild::Spawn(std::move(spawn));
}

std::string HelperLauncher::Identity(security::ProcessKind kind) const {
  auto path = Locate(kind);
  struct stat st {};
  if (!path || ::stat(path->c_str(), &st) != 0) return "unknown";
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
         std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}

}  // namespace banger::broker
