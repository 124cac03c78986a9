// `banger image list`, `image inspect` and `image rm`.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "broker/cli/context.h"

namespace banger::broker {

int RunImageInspectCommand(const CliContext& context, const std::vector<std::string>& args, std::ostream& out,
                           std::ostream& err);
int RunImageRemoveCommand(const CliContext& context, const std::vector<std::string>& args, std::ostream& out,
                          std::ostream& err);
int RunImageListCommand(const CliContext& context, const std::vector<std::string>& args, std::ostream& out,
                        std::ostream& err);

}  // namespace banger::broker
