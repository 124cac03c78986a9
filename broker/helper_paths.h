// Where the broker finds its helper executables: beside itself (the build tree's bin/)
// or in ../libexec/banger (an installed tree). Never from the environment or PATH:
// the broker is privileged and must not be steered to another binary.
#pragma once

#include <string>

#include "base/result.h"
#include "security/sandbox_spec.h"
#include "security/spawn.h"

namespace banger::broker {

Result<std::string> LocateHelper(security::ProcessKind kind);
// Same search from an explicit directory holding the banger executable (for tests).
Result<std::string> LocateHelperFrom(const std::string& banger_dir, security::ProcessKind kind);

// Locates the helper and starts it in its sandbox for the current broker (spawn.h).
Result<security::SandboxedChild> StartHelper(security::ProcessKind kind);

}  // namespace banger::broker
