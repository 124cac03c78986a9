// Raw bytes (layer names, registry text) shown to a person: control characters,
// backslashes and bytes that are not UTF-8 become \xNN, and long text is cut on a
// character boundary. The bytes themselves stay raw everywhere else.
#pragma once

#include <string>
#include <string_view>

namespace banger {

std::string Printable(std::string_view raw, size_t max_bytes = 300);

}  // namespace banger
