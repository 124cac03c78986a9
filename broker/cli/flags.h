// A small command-line flag parser: --name value, --name=value, boolean --name, -q;
// unknown flags and missing values are usage errors naming the flag.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
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

// "3" -> 3 within [min, max], else an error naming the flag.
Result<long> ParseIntFlag(const std::string& flag, const std::string& value, long min, long max);

}  // namespace banger::broker
