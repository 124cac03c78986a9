// Whether this build runs under AddressSanitizer, whose runtime needs a few more
// syscalls, no RLIMIT_AS, and no leak checker inside a sandbox (LeakSanitizer hangs
// when it cannot ptrace).
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define BANGER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BANGER_ASAN 1
#endif
#endif

namespace banger::security {

#if defined(BANGER_ASAN)
inline constexpr bool kUnderAddressSanitizer = true;
#else
inline constexpr bool kUnderAddressSanitizer = false;
#endif

}  // namespace banger::security
