// `banger system status`, `system install` and `system uninstall`: their flags, their
// usage and what they print (the work is in host/system_status.h and system_install.h).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "broker/cli/context.h"

namespace banger::broker {

// 0 when every helper is confined, 3 otherwise.
int RunSystemStatus(const CliContext& context, const std::vector<std::string>& args, std::ostream& out,
                    std::ostream& err);
// These read no config of their own (they must work when it is broken). 0 done, 1 error,
// 2 usage.
int RunSystemInstall(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int RunSystemUninstall(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace banger::broker
