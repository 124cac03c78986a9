// `banger system status`: the config in use, whether and where banger is installed,
// where images and blobs go, what the kernel offers the sandbox (seccomp, user
// namespaces) and the helpers' user; then proves on this kernel that every helper can be
// started, locked down and checked, and prints what /proc says about each.
#pragma once

#include <iosfwd>

namespace banger::broker {

// Returns the process exit status: 0 when every helper is confined, 3 otherwise.
int RunSystemStatus(std::ostream& out, std::ostream& err);

}  // namespace banger::broker
