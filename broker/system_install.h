// `banger system install` and `banger system uninstall` (docs/install.md): put this
// banger and its helpers under a prefix, create the helpers' system user, the state and
// cache dirs and the config, record all of it in CONFIG_DIR/installed.json, and remove
// exactly that again.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace banger::broker {

// `args` are what follows "system install" / "system uninstall". Exit status: 0 done,
// 1 error, 2 usage.
int RunSystemInstall(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int RunSystemUninstall(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace banger::broker
