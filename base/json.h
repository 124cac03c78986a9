// JSON text in and out, for bytes nobody vouches for: parsing is bounded in depth (a
// hostile peer cannot exhaust the stack) and never throws; dumping replaces bytes that
// are not UTF-8 (names from a layer may be anything) instead of throwing.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/result.h"

namespace banger {

// Parses JSON text with a nesting bound; errors are kMalformed.
Result<nlohmann::json> ParseJsonBounded(std::string_view text, int max_depth = 32);
// ParseJsonBounded, and also refuses an object that names a key twice (which the DOM
// would keep silently, last one winning): for documents whose every field is checked,
// such as a signature's payload or a trust policy.
Result<nlohmann::json> ParseJsonStrict(std::string_view text, int max_depth = 32);
// `object`'s `key`, or null when `object` is no object or lacks it: for documents a peer
// wrote, where operator[] on a const object would read past the end for a missing key.
const nlohmann::json& FieldOrNull(const nlohmann::json& object, std::string_view key);
// `object`'s `key` when it is a string, else "": for records read back from disk, where
// value(key, "") throws on a field of another type.
std::string StringField(const nlohmann::json& object, std::string_view key);
// JSON text of `value`, with bytes that are not UTF-8 replaced by U+FFFD.
std::string DumpJson(const nlohmann::json& value, int indent = -1);

}  // namespace banger
