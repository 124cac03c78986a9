// A small command-line flag parser: --name value, --name=value, boolean --name, -q;
// unknown flags and missing values are usage errors naming the flag.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "base/result.h"

namespace banger::broker {

struct FlagSpec {
  std::set<std::string> with_value;  // "--platform"
  std::set<std::string> booleans;    // "--json", "-q"
  std::set<std::string> repeatable;  // subset of with_value that may appear more than once
};

struct ParsedFlags {
  std::vector<std::string> positional;
  std::map<std::string, std::vector<std::string>> values;
  std::set<std::string> set_booleans;

  bool Has(const std::string& flag) const { return set_booleans.count(flag) != 0; }
  std::optional<std::string> Value(const std::string& flag) const;
  std::vector<std::string> All(const std::string& flag) const;
};

// Errors are kInvalidArgument with a message for "banger: error: ...".
Result<ParsedFlags> ParseFlags(const std::vector<std::string>& args, const FlagSpec& spec);

// How many positional arguments a command takes, and the rule as its usage error says it.
struct ArgumentRule {
  size_t min = 0, max = 0;
  std::string says = "takes no arguments";  // "image pull <says>"
};
inline const ArgumentRule kOneReference{1, 1, "takes exactly one reference"};
inline const ArgumentRule kOneImageName{1, 1, "takes one image (a name, an ID or a reference)"};

// A command as its parser sees it: its name in messages ("image pull"), what --help prints,
// its flags (--help and -h are always there), its arguments, and whether it needs root.
struct CommandSpec {
  std::string name;
  std::string usage;
  FlagSpec flags;
  ArgumentRule arguments;
  bool needs_root = false;
};
// The command's flags, or its exit status when they were a usage error (said on `err`),
// asked for --help (the usage on `out`), or the command needs root and is not.
std::variant<ParsedFlags, int> ParseCommand(const CommandSpec& command, const std::vector<std::string>& args,
                                            std::ostream& out, std::ostream& err);

// Every --insecure-registry given, each a registry host[:port] in canonical (lowercase)
// form; a URL or a range is an error saying what was meant.
Result<std::vector<std::string>> InsecureRegistryFlags(const ParsedFlags& flags);

// "3" -> 3 within [min, max], else an error naming the flag.
Result<long> ParseIntFlag(const std::string& flag, const std::string& value, long min, long max);

}  // namespace banger::broker
