// Runs a trusted local program (a docker credential helper) with a clean argv, text on
// its stdin, a deadline, and a bound on what it may print.
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

// argv[0] is looked up on PATH. Fails on a timeout or when the program cannot run.
Result<ProcessOutput> RunProgram(const std::vector<std::string>& argv, const std::string& input, int timeout_ms,
                                 size_t max_output = 64 * 1024);

}  // namespace banger::broker
