// Starts banger-sandbox-probe under a chosen kind's sandbox, as the broker would.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "security/spawn.h"

namespace banger::testing {

struct ProbeOptions {
  security::ProcessKind kind = security::ProcessKind::kUnpacker;
  std::string action = "idle";
  std::function<void(security::SandboxSpec&)> adjust;  // tighten limits etc.
  std::vector<UniqueFd> passed_fds;
  std::string probe_path;  // default: the build tree's probe

  ProbeOptions&& Adjust(std::function<void(security::SandboxSpec&)> f) && {
    adjust = std::move(f);
    return std::move(*this);
  }
  ProbeOptions&& Pass(UniqueFd fd) && {
    passed_fds.push_back(std::move(fd));
    return std::move(*this);
  }
  ProbeOptions&& From(std::string path) && {
    probe_path = std::move(path);
    return std::move(*this);
  }
};

// Probe(kind, "open").Adjust(...): the options for one probe run.
ProbeOptions Probe(security::ProcessKind kind, std::string action = "idle");

Result<security::SandboxedChild> StartProbe(ProbeOptions options);

// Sends kPing and returns the probe's errno for its action, or the error that ended it.
Result<int> Poke(security::SandboxedChild& probe);

std::string ProbePath();

// Names of the entries in a directory ("." and ".." left out), or an error text.
std::vector<std::string> ListDirectory(const std::string& path, std::string* error = nullptr);

}  // namespace banger::testing
