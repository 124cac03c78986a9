#include "tests/security/sandbox_fixture.h"

#include <dirent.h>

#include <cstring>
#include <nlohmann/json.hpp>

namespace banger::testing {

std::string ProbePath() { return BANGER_PROBE_PATH; }

ProbeOptions Probe(security::ProcessKind kind, std::string action) {
  ProbeOptions options;
  options.kind = kind;
  options.action = std::move(action);
  return options;
}

Result<security::SandboxedChild> StartProbe(ProbeOptions options) {
  security::SpawnOptions spawn;
  spawn.executable = options.probe_path.empty() ? ProbePath() : options.probe_path;
  spawn.name = "banger-sandbox-probe";
  spawn.args = {options.action};
  spawn.spec = security::SpecForCurrentBroker(options.kind);
  if (options.adjust) options.adjust(spawn.spec);
  spawn.passed_fds = std::move(options.passed_fds);
  return security::SandboxedChild::Spawn(std::move(spawn));
}

Result<int> Poke(security::SandboxedChild& probe) {
  BANGER_TRY(probe.Send(ipc::Message::Make(ipc::MessageType::kPing)));
  BANGER_ASSIGN_OR_RETURN(ipc::Message pong, probe.ReceiveExpecting({ipc::MessageType::kPong}, 20000));
  BANGER_ASSIGN_OR_RETURN(nlohmann::json body, pong.Json());
  return body.at("errno").get<int>();
}

std::vector<std::string> ListDirectory(const std::string& path, std::string* error) {
  std::vector<std::string> names;
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) {
    if (error) *error = path + ": " + std::strerror(errno);
    return names;
  }
  while (dirent* entry = ::readdir(dir)) {
    std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(dir);
  return names;
}

}  // namespace banger::testing
