#include "base/json.h"

#include <set>
#include <vector>

#include "base/text.h"

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

// A SAX pass that only looks for a key named twice in one object, linear in the text.
class DuplicateKeyFinder : public nlohmann::json_sax<nlohmann::json> {
 public:
  const std::string& duplicate() const { return duplicate_; }
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    open_.emplace_back();
    return true;
  }
  bool key(string_t& name) override {
    if (open_.back().insert(name).second) return true;
    duplicate_ = name;
    return false;
  }
  bool end_object() override {
    open_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

 private:
  std::vector<std::set<std::string>> open_;
  std::string duplicate_;
};

}  // namespace

Result<nlohmann::json> ParseJsonStrict(std::string_view text, int max_depth) {
  BANGER_ASSIGN_OR_RETURN(nlohmann::json parsed, ParseJsonBounded(text, max_depth));
  DuplicateKeyFinder finder;
  (void)nlohmann::json::sax_parse(text.begin(), text.end(), &finder);
  if (!finder.duplicate().empty()) {
    return Error{ErrorCode::kMalformed, "invalid JSON: the key \"" + Printable(finder.duplicate(), 64) + "\" appears twice in one object"};
  }
  return parsed;
}

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

const nlohmann::json& FieldOrNull(const nlohmann::json& object, std::string_view key) {
  static const nlohmann::json kNull;
  if (!object.is_object()) return kNull;
  auto found = object.find(key);
  return found == object.end() ? kNull : *found;
}

std::string StringField(const nlohmann::json& object, std::string_view key) {
  const nlohmann::json& field = FieldOrNull(object, key);
  return field.is_string() ? field.get<std::string>() : std::string();
}

std::string DumpJson(const nlohmann::json& value, int indent) {
  // ASCII only: whatever a string holds (a helper's or a registry's words), the text
  // carries no byte a terminal could act on.
  return value.dump(indent, ' ', true, nlohmann::json::error_handler_t::replace);
}

}  // namespace banger
