#include "broker/cli_output.h"

#include <cstdio>

#include "broker/exit_codes.h"
#include "security/stop_signal.h"

namespace banger::broker {

std::string HumanBytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
  return text;
}

int ExitStatusFor(const Error& error) {
  switch (error.code) {
    case ErrorCode::kSandbox:
    case ErrorCode::kChildFailed: return kExitSandbox;
    case ErrorCode::kStopped: return 128 + (security::StopSignal() != 0 ? security::StopSignal() : 15);
    default: return kExitError;
  }
}

int ReportUsage(std::ostream& err, const std::string& what, const std::string& command) {
  err << "banger: error: " << what << "\nRun 'banger " << (command.empty() ? "" : command + " ") << "--help' for usage.\n";
  return kExitUsage;
}

int ReportError(std::ostream& err, const Error& error, const std::string& context) {
  err << "banger: error: " << error.message << (context.empty() ? "" : " (" + context + ")") << "\n";
  return ExitStatusFor(error);
}

}  // namespace banger::broker
