// Raw bytes (layer names, registry text) shown to a person: control characters,
// backslashes and bytes that are not UTF-8 become \xNN, and long text is cut on a
// character boundary. The bytes themselves stay raw everywhere else.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace banger {

std::string Printable(std::string_view raw, size_t max_bytes = 300);

// "1.2 GiB", "512.0 KiB", "17 B".
std::string HumanBytes(uint64_t bytes);

// "2446-05-10T22:38:55Z" for any second count of the Unix epoch, past 9999 and before
// 1970 too, without time zone files (the unpacker has no filesystem to read them from).
std::string UtcTime(int64_t seconds);

}  // namespace banger
