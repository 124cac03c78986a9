// The banger command line: parses argv and runs one command.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace banger::broker {

int RunCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace banger::broker
