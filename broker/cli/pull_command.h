// `banger image pull`.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "broker/cli/context.h"

namespace banger::broker {

int RunImagePullCommand(const CliContext& context, const std::vector<std::string>& args, std::ostream& out,
                        std::ostream& err);

}  // namespace banger::broker
