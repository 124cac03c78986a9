// banger's exit statuses, as documented in --help.
#pragma once

namespace banger::broker {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;    // registry, input and user errors
inline constexpr int kExitUsage = 2;    // bad command line
inline constexpr int kExitSandbox = 3;  // sandbox violation or a crashed helper

}  // namespace banger::broker
