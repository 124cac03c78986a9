// Reads one JSON object a peer sent into typed fields, the way OpenSSH's monitor reads
// a request: every field has a type and a bound, a missing or extra key is refused, and
// the first problem becomes the error ("malformed unpack-done: 'entries' is not a whole
// number"). Nothing here throws, whatever the bytes were.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"

namespace banger::ipc {

class FieldReader {
 public:
  // `what` names the message in errors ("unpack-done").
  FieldReader(const nlohmann::json& object, std::string what);

  // Required fields: absent is an error. Each leaves `out` alone on an error.
  FieldReader& Uint(std::string_view key, uint64_t& out, uint64_t max = std::numeric_limits<uint64_t>::max());
  FieldReader& Uint32(std::string_view key, uint32_t& out);
  FieldReader& Bool(std::string_view key, bool& out);
  FieldReader& String(std::string_view key, std::string& out, size_t max_bytes);
  // "sha256:" and 64 lowercase hex digits.
  FieldReader& Digest(std::string_view key, std::string& out);
  // Strings, at most `max_items` of at most `max_bytes` each.
  FieldReader& Strings(std::string_view key, std::vector<std::string>& out, size_t max_items, size_t max_bytes);

  // Optional fields: absent leaves `out` as it is.
  FieldReader& OptionalUint(std::string_view key, std::optional<uint64_t>& out,
                            uint64_t max = std::numeric_limits<uint64_t>::max());
  FieldReader& OptionalString(std::string_view key, std::string& out, size_t max_bytes);

  // A nested value for a decoder of its own: an array of at most `max_items` or an object;
  // null (and an error recorded) when it is absent or of another type.
  const nlohmann::json* Array(std::string_view key, size_t max_items);
  const nlohmann::json* Object(std::string_view key);
  const nlohmann::json* OptionalObject(std::string_view key);

  // Records a problem the caller found (a value out of its set, say).
  void Fail(const std::string& problem);
  // Takes the first problem of a reader of a nested object, named by its `what`.
  void Absorb(FieldReader& nested);
  bool ok() const { return !error_.has_value(); }
  // The first problem, or an unknown key; kMalformed, naming the message.
  Result<void> Finish();
  // Finish, then `value` when all was well.
  template <class T>
  Result<T> Done(T value) {
    BANGER_TRY(Finish());
    return value;
  }

 private:
  const nlohmann::json* Find(std::string_view key, bool required);
  // Checks for unknown keys; the first problem, if any.
  const std::optional<std::string>& Problem();
  bool Refuse(std::string_view key, const std::string& problem);

  const nlohmann::json& object_;
  std::string what_;
  std::set<std::string, std::less<>> read_;
  std::optional<std::string> error_;
};

// A message body: JSON text (nesting bounded) that must be one object; errors name `what`.
Result<nlohmann::json> ParseObject(std::string_view body, const std::string& what);

}  // namespace banger::ipc
