// `banger image fetch REF`: resolve an image and download its blobs into the verified
// cache, without building a filesystem (what `image pull` does first).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "broker/cli/context.h"

namespace banger::broker {

int RunImageFetchCommand(const CliContext& context, const std::vector<std::string>& args, std::ostream& out,
                         std::ostream& err);

}  // namespace banger::broker
