// `banger image cache prune`: the blob cache's housekeeping.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace banger::broker {

int RunImageCacheCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace banger::broker
