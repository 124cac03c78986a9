// `banger image pull` and `banger image list`.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace banger::broker {

int RunImagePullCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int RunImageInspectCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int RunImageRemoveCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int RunImageListCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace banger::broker
