// What every command prints the same way: an error as one line
// `banger: error: <what> (<ref | digest | path>)` with its exit status, and with --json
// the same errors and warnings as events on stdout (docs/cli.md).
#pragma once

#include <functional>
#include <optional>
#include <ostream>
#include <streambuf>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"

namespace banger::broker {

// The version of the --json event schema (docs/cli.md), in every event a command prints.
inline constexpr int kJsonSchema = 1;

// 1 for registry, input and user errors; 3 for a sandbox violation or a crashed helper;
// 128 + the signal when SIGINT or SIGTERM stopped banger.
int ExitStatusFor(const Error& error);

// A command-line mistake: the error line, where to read more ("Run 'banger COMMAND
// --help' for usage."), and exit status 2. An empty command points at `banger --help`.
int ReportUsage(std::ostream& err, const std::string& what, const std::string& command);

// What escaped the Result idiom (a library that threw): one line, exit status 1.
int ReportInternalError(std::ostream& err, const std::string& what);

// Prints the error line and returns ExitStatusFor(error). A stop says which signal. The
// context (a reference, a path) follows the message unless the message names it.
int ReportError(std::ostream& err, const Error& error, const std::string& context);

// The message of an error line ("banger: error: MESSAGE"); nullopt for any other line.
std::optional<std::string> ErrorLineMessage(const std::string& line);

// Passes what is written to stream() through to `err` a whole line at a time (or what
// there is of one when flushed), and hands each whole line (without its newline, at most
// 4 KiB of it) to `on_line`.
class LineTap : public std::streambuf {
 public:
  LineTap(std::ostream& err, std::function<void(const std::string& line)> on_line);
  ~LineTap() override { sync(); }
  LineTap(const LineTap&) = delete;
  LineTap& operator=(const LineTap&) = delete;
  std::ostream& stream() { return stream_; }

 protected:
  int overflow(int c) override;
  int sync() override;

 private:
  std::ostream& err_;
  std::function<void(const std::string&)> on_line_;
  std::ostream stream_;
  std::string pending_;  // written to stream() but not yet to `err`
  std::string line_;     // the current line, for on_line
};

// Whether `args` ask for --json (before any "--").
bool WantsJson(const std::vector<std::string>& args);

// With --json, a command's error and warning lines are also events on `out`:
// {"schema":1,"event":"warning","message":...} as each is written, and at the end
// {"schema":1,"event":"error","code":...,"exit":...,"message":...} per error line, the
// code named by the exit status ("error", "usage", "sandbox", "stopped"). Without
// --json, err() is `err` itself. Without `warning_events` (a command whose --json output
// is one document), warnings stay stderr lines only.
class JsonDiagnostics {
 public:
  JsonDiagnostics(bool json, bool warning_events, std::ostream& out, std::ostream& err);
  std::ostream& err() { return json_ ? tap_.stream() : err_; }
  // The error events, once the command's status is known; returns `status`.
  int Finish(int status);

 private:
  bool json_;
  bool warning_events_;
  std::ostream& out_;
  std::ostream& err_;
  std::vector<std::string> errors_;
  LineTap tap_;
};

// One --json event on a line of its own, with the schema's version.
void EmitJsonEvent(std::ostream& out, nlohmann::json event);

}  // namespace banger::broker
