// `banger image catalog` (list the catalog) and `banger image bundle` (make a bundle and
// its catalog entry from a pulled image).
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "broker/cli/context.h"

namespace banger::broker {

int RunImageCatalogCommand(const CliContext& context, const std::vector<std::string>& args, std::ostream& out,
                           std::ostream& err);
int RunImageBundleCommand(const CliContext& context, const std::vector<std::string>& args, std::ostream& out,
                          std::ostream& err);

}  // namespace banger::broker
