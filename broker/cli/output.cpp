#include "broker/cli/output.h"

#include <algorithm>

#include "base/json.h"
#include "base/text.h"
#include "broker/cli/exit_codes.h"
#include "security/stop_signal.h"

namespace banger::broker {
namespace {

constexpr const char* kErrorPrefix = "banger: error: ";
constexpr const char* kWarningPrefix = "banger: warning: ";

// What an error event's "code" says, from the exit status (docs/cli.md).
const char* CodeOf(int status) {
  if (status == kExitUsage) return "usage";
  if (status == kExitSandbox) return "sandbox";
  if (status > 128) return "stopped";
  return "error";
}

}  // namespace

int ExitStatusFor(const Error& error) {
  switch (error.code) {
    case ErrorCode::kSandbox:
    case ErrorCode::kChildFailed: return kExitSandbox;
    case ErrorCode::kStopped: return 128 + (security::StopSignal() != 0 ? security::StopSignal() : 15);
    default: return kExitError;
  }
}

int ReportUsage(std::ostream& err, const std::string& what, const std::string& command) {
  err << kErrorPrefix << TerminalSafe(what) << "\nRun 'banger " << (command.empty() ? "" : command + " ")
      << "--help' for usage.\n";
  return kExitUsage;
}

int ReportInternalError(std::ostream& err, const std::string& what) {
  err << "banger: internal error: " << TerminalSafe(what) << "\n";
  return kExitError;
}

int ReportError(std::ostream& err, const Error& error, const std::string& context) {
  // The rooms below say only that they stopped; which signal asked is known here.
  const std::string message = error.code == ErrorCode::kStopped ? security::StopReason() : error.message;
  const bool named = context.empty() || message.find(context) != std::string::npos;
  // Whatever a registry or a helper put into the message reaches the terminal escaped.
  err << kErrorPrefix << TerminalSafe(message + (named ? "" : " (" + context + ")")) << "\n";
  return ExitStatusFor(error);
}

LineTap::LineTap(std::ostream& err, std::function<void(const std::string& line)> on_line)
    : err_(err), on_line_(std::move(on_line)), stream_(this) {}

int LineTap::overflow(int c) {
  if (c == traits_type::eof()) return traits_type::not_eof(c);
  pending_.push_back(static_cast<char>(c));
  if (c != '\n') {
    if (line_.size() < 4096) line_.push_back(static_cast<char>(c));
    if (pending_.size() >= 4096) sync();
    return c;
  }
  sync();
  on_line_(line_);
  line_.clear();
  return c;
}

int LineTap::sync() {
  err_.write(pending_.data(), static_cast<std::streamsize>(pending_.size()));
  err_.flush();
  pending_.clear();
  return err_ ? 0 : -1;
}

std::optional<std::string> ErrorLineMessage(const std::string& line) {
  const std::string prefix(kErrorPrefix);
  if (line.rfind(prefix, 0) != 0) return std::nullopt;
  return line.substr(prefix.size());
}

bool WantsJson(const std::vector<std::string>& args) {
  const auto end = std::find(args.begin(), args.end(), "--");
  return std::find(args.begin(), end, "--json") != end;
}

void EmitJsonEvent(std::ostream& out, nlohmann::json event) {
  event["schema"] = kJsonSchema;
  out << DumpJson(event) << "\n" << std::flush;
}

JsonDiagnostics::JsonDiagnostics(bool json, bool warning_events, std::ostream& out, std::ostream& err)
    : json_(json), warning_events_(warning_events), out_(out), err_(err), tap_(err, [this](const std::string& line) {
        const std::string warning(kWarningPrefix);
        if (auto message = ErrorLineMessage(line)) errors_.push_back(std::move(*message));
        if (warning_events_ && line.rfind(warning, 0) == 0) {
          EmitJsonEvent(out_, {{"event", "warning"}, {"message", line.substr(warning.size())}});
        }
      }) {}

int JsonDiagnostics::Finish(int status) {
  if (!json_) return status;
  tap_.stream().flush();
  for (const std::string& message : errors_) {
    EmitJsonEvent(out_, {{"event", "error"}, {"code", CodeOf(status)}, {"exit", status}, {"message", message}});
  }
  errors_.clear();
  return status;
}

}  // namespace banger::broker
