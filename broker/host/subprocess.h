// Runs a trusted local program (a docker credential helper, useradd) with a clean argv,
// the environment it is given, text on its stdin, a deadline, and a bound on what it
// may print.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"

namespace banger::broker {

struct ProcessOutput {
  int exit_status = -1;
  std::string out;
  std::string err;
};

// argv[0], unless it is a path, is looked up on the PATH of `environment` ("KEY=VALUE"
// strings, all the program gets). Fails on a timeout or when the program cannot run.
Result<ProcessOutput> RunProgram(const std::vector<std::string>& argv, const std::string& input, int timeout_ms,
                                 const std::vector<std::string>& environment, size_t max_output = 64 * 1024);

// The PATH programs get when banger runs them for itself (useradd, userdel).
inline const std::vector<std::string> kSystemProgramEnvironment = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};

}  // namespace banger::broker
