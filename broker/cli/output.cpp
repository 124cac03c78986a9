#include "broker/cli/output.h"

#include "base/text.h"
#include "broker/cli/exit_codes.h"
#include "security/stop_signal.h"

namespace banger::broker {

int ExitStatusFor(const Error& error) {
  switch (error.code) {
    case ErrorCode::kSandbox:
    case ErrorCode::kChildFailed: return kExitSandbox;
    case ErrorCode::kStopped: return 128 + (security::StopSignal() != 0 ? security::StopSignal() : 15);
    default: return kExitError;
  }
}

int ReportUsage(std::ostream& err, const std::string& what, const std::string& command) {
  err << "banger: error: " << TerminalSafe(what) << "\nRun 'banger " << (command.empty() ? "" : command + " ") << "--help' for usage.\n";
  return kExitUsage;
}

int ReportInternalError(std::ostream& err, const std::string& what) {
  err << "banger: internal error: " << TerminalSafe(what) << "\n";
  return kExitError;
}

int ReportError(std::ostream& err, const Error& error, const std::string& context) {
  // The rooms below say only that they stopped; which signal asked is known here.
  const std::string message = error.code == ErrorCode::kStopped ? security::StopReason() : error.message;
  // Whatever a registry or a helper put into the message reaches the terminal escaped.
  err << "banger: error: " << TerminalSafe(message + (context.empty() ? "" : " (" + context + ")")) << "\n";
  return ExitStatusFor(error);
}

}  // namespace banger::broker
