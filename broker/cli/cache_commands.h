// `banger image cache prune`: the blob cache's housekeeping.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "broker/cli/context.h"

namespace banger::broker {

int RunImageCacheCommand(const CliContext& context, const std::vector<std::string>& args, std::ostream& out,
                         std::ostream& err);

}  // namespace banger::broker
