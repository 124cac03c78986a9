#include "base/json.h"

namespace banger {
namespace {

// The deepest nesting of arrays and objects in `text`, read as JSON would be (brackets
// inside strings do not count), stopping once past `max_depth`. A scan of its own rather
// than nlohmann's parser callback, which rescans the parent container after every value
// it closes: quadratic in the number of siblings, minutes for 4 MiB of "{},".
bool DeeperThan(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

}  // namespace

Result<nlohmann::json> ParseJsonBounded(std::string_view text, int max_depth) {
  if (DeeperThan(text, max_depth)) {
    return Error{ErrorCode::kMalformed, "JSON nested deeper than " + std::to_string(max_depth) + " levels"};
  }
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    return Error{ErrorCode::kMalformed, std::string("invalid JSON: ") + e.what()};
  }
}

std::string DumpJson(const nlohmann::json& value, int indent) {
  // ASCII only: whatever a string holds (a helper's or a registry's words), the text
  // carries no byte a terminal could act on.
  return value.dump(indent, ' ', true, nlohmann::json::error_handler_t::replace);
}

}  // namespace banger
