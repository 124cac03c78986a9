#include "base/json.h"

namespace banger {
namespace {

struct DepthExceeded {};

}  // namespace

Result<nlohmann::json> ParseJsonBounded(std::string_view text, int max_depth) {
  try {
    auto guard = [max_depth](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
      if (depth > max_depth) throw DepthExceeded{};
      return true;
    };
    return nlohmann::json::parse(text.begin(), text.end(), guard);
  } catch (const DepthExceeded&) {
    return Error{ErrorCode::kMalformed, "JSON nested deeper than " + std::to_string(max_depth) + " levels"};
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
