#include "broker/cli/flags.h"

#include "base/reference.h"

#include "broker/cli/exit_codes.h"
#include "broker/cli/output.h"

#include <cctype>
#include <charconv>
#include <cstdlib>

#include <unistd.h>

namespace banger::broker {

std::optional<std::string> ParsedFlags::Value(const std::string& flag) const {
  auto it = values.find(flag);
  if (it == values.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> ParsedFlags::All(const std::string& flag) const {
  auto it = values.find(flag);
  return it == values.end() ? std::vector<std::string>{} : it->second;
}

Result<ParsedFlags> ParseFlags(const std::vector<std::string>& args, const FlagSpec& spec) {
  ParsedFlags parsed;
  bool only_positional = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (only_positional || arg.empty() || arg[0] != '-' || arg == "-") {
      parsed.positional.push_back(arg);
      continue;
    }
    if (arg == "--") {
      only_positional = true;
      continue;
    }
    std::string name = arg;
    std::optional<std::string> inline_value;
    if (size_t eq = arg.find('='); eq != std::string::npos && arg.rfind("--", 0) == 0) {
      name = arg.substr(0, eq);
      inline_value = arg.substr(eq + 1);
    }
    if (spec.booleans.count(name)) {
      if (inline_value) return Error{ErrorCode::kInvalidArgument, "flag " + name + " takes no value"};
      parsed.set_booleans.insert(name);
      continue;
    }
    if (!spec.with_value.count(name)) return Error{ErrorCode::kInvalidArgument, "unknown flag " + name};
    std::string value;
    if (inline_value) {
      value = *inline_value;
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return Error{ErrorCode::kInvalidArgument, "flag " + name + " needs a value"};
    }
    auto& slot = parsed.values[name];
    if (!slot.empty() && !spec.repeatable.count(name)) {
      return Error{ErrorCode::kInvalidArgument, "flag " + name + " given more than once"};
    }
    slot.push_back(value);
  }
  return parsed;
}

Result<long> ParseIntFlag(const std::string& flag, const std::string& value, long min, long max) {
  long out = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (ec != std::errc() || ptr != value.data() + value.size() || out < min || out > max) {
    return Error{ErrorCode::kInvalidArgument, "flag " + flag + " wants a whole number from " + std::to_string(min) +
                                                  " to " + std::to_string(max) + ", not '" + value + "'"};
  }
  return out;
}

std::variant<ParsedFlags, int> ParseCommand(const CommandSpec& command, const std::vector<std::string>& args,
                                            std::ostream& out, std::ostream& err) {
  FlagSpec spec = command.flags;
  spec.booleans.insert({"--help", "-h"});
  auto flags = ParseFlags(args, spec);
  if (!flags) return ReportUsage(err, flags.error().message, command.name);
  if (flags->Has("--help") || flags->Has("-h")) {
    out << command.usage;
    return kExitOk;
  }
  const size_t count = flags->positional.size();
  if (count < command.arguments.min || count > command.arguments.max) {
    return ReportUsage(err, command.name + " " + command.arguments.says, command.name);
  }
  if (command.needs_root && ::geteuid() != 0) {
    return ReportError(err, Error{ErrorCode::kInvalidArgument, command.name + " needs root"}, "");
  }
  return std::move(*flags);
}

Result<std::vector<std::string>> InsecureRegistryFlags(const ParsedFlags& flags) {
  std::vector<std::string> hosts;
  for (const std::string& host : flags.All("--insecure-registry")) {
    BANGER_ASSIGN_OR_RETURN(std::string canonical, CanonicalRegistryHost(host, "--insecure-registry"));
    hosts.push_back(std::move(canonical));
  }
  return hosts;
}

}  // namespace banger::broker
