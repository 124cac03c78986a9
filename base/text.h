// Raw bytes (layer names, registry text) shown to a person: control characters,
// backslashes and bytes that are not UTF-8 become \xNN, and long text is cut on a
// character boundary. The bytes themselves stay raw everywhere else.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace banger {

// Escaped as \xNN: C0 controls, DEL, the C1 controls (U+0080..U+009F, which some
// terminals obey), the bidirectional overrides and isolates (U+202A..U+202E,
// U+2066..U+2069), bytes that are not UTF-8, and backslashes.
std::string Printable(std::string_view raw, size_t max_bytes = 300);

// Printable for text that is already a message (an error, a warning, a registry's or a
// helper's words) on its way to a terminal: the same escapes but for backslashes, which
// are harmless there and would double up on text that went through Printable already.
std::string TerminalSafe(std::string_view text, size_t max_bytes = 4096);

// A-Z as a-z, every other byte as it is (host names, header names, schemes).
std::string AsciiLower(std::string_view text);

// "1.2 GiB", "512.0 KiB", "17 B".
std::string HumanBytes(uint64_t bytes);

// "2446-05-10T22:38:55Z" for any second count of the Unix epoch, past 9999 and before
// 1970 too, without time zone files (the unpacker has no filesystem to read them from).
std::string UtcTime(int64_t seconds);

}  // namespace banger
