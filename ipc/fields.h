// A protocol body's fields, listed once. Each body struct of the helper protocols
// (fetch_protocol.h, unpack_protocol.h, image_protocol.h) has a name and a `Fields`
// function that walks its members with a visitor:
//
//   struct UnpackProgress {
//     static constexpr const char* kName = "unpack-progress";
//     uint64_t layer = 0, bytes = 0;
//     template <class Self, class V> static void Fields(Self& self, V& v) {
//       v.Uint("layer", self.layer, kMaxUnpackLayers - 1).Uint("bytes", self.bytes);
//     }
//   };
//
// The same list encodes (FieldWriter) and decodes (FieldReader), the way OpenSSH's
// monitor reads a request: every field has a type and a bound, a missing or unknown key
// is refused, and the first problem becomes the error ("malformed unpack-done: 'entries'
// is not a whole number"). Nothing here throws, whatever the bytes were.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/json.h"
#include "base/result.h"

namespace banger::ipc {

inline constexpr uint64_t kNoBound = std::numeric_limits<uint64_t>::max();

class FieldReader {
 public:
  // `what` names the message (or the nested object) in errors.
  FieldReader(const nlohmann::json& object, std::string what);

  // Required fields: absent is an error. Each leaves its value alone on an error.
  FieldReader& Uint(std::string_view key, uint64_t& out, uint64_t max = kNoBound);
  FieldReader& Uint32(std::string_view key, uint32_t& out);
  FieldReader& Bool(std::string_view key, bool& out);
  FieldReader& String(std::string_view key, std::string& out, size_t max_bytes);
  // "sha256:" and 64 lowercase hex digits.
  FieldReader& Digest(std::string_view key, std::string& out);
  // One of a fixed set of words.
  FieldReader& OneOf(std::string_view key, std::string& out, std::initializer_list<std::string_view> allowed);
  // 16 bytes as 32 lowercase hex digits.
  FieldReader& Hex16(std::string_view key, std::array<uint8_t, 16>& out);
  // At most `max_items` strings of at most `max_bytes` each; digests.
  FieldReader& Strings(std::string_view key, std::vector<std::string>& out, size_t max_items, size_t max_bytes);
  FieldReader& Digests(std::string_view key, std::vector<std::string>& out, size_t max_items);
  // Absent leaves `out` unset.
  FieldReader& OptionalUint(std::string_view key, std::optional<uint64_t>& out, uint64_t max = kNoBound);
  // Absent leaves `out` as it is (empty).
  FieldReader& OptionalString(std::string_view key, std::string& out, size_t max_bytes);

  // Nested bodies, read with their own Fields.
  template <class Body>
  FieldReader& Object(std::string_view key, Body& out) {
    if (const nlohmann::json* object = FindObject(key, true)) ReadNested(*object, key, out);
    return *this;
  }
  template <class Body>
  FieldReader& OptionalObject(std::string_view key, std::optional<Body>& out) {
    if (const nlohmann::json* object = FindObject(key, false)) ReadNested(*object, key, out.emplace());
    if (!ok()) out.reset();
    return *this;
  }
  template <class Body>
  FieldReader& Objects(std::string_view key, std::vector<Body>& out, size_t max_items) {
    const nlohmann::json* list = FindArray(key, max_items);
    for (size_t i = 0; list != nullptr && i < list->size() && ok(); ++i) {
      ReadNested((*list)[i], std::string(key) + "[" + std::to_string(i) + "]", out.emplace_back());
    }
    return *this;
  }

  // Records a problem the caller found.
  void Fail(const std::string& problem);
  bool ok() const { return !error_.has_value(); }
  // The first problem, or an unknown key: kMalformed, naming the message.
  Result<void> Finish();

 private:
  const nlohmann::json* Find(std::string_view key, bool required);
  const nlohmann::json* FindObject(std::string_view key, bool required);
  const nlohmann::json* FindArray(std::string_view key, size_t max_items);
  bool Refuse(std::string_view key, const std::string& problem);
  // Checks for unknown keys; the first problem, if any.
  const std::optional<std::string>& Problem();
  template <class Body>
  void ReadNested(const nlohmann::json& object, std::string_view what, Body& out) {
    FieldReader nested(object, std::string(what));
    Body::Fields(out, nested);
    if (const auto& problem = nested.Problem()) Fail(nested.what_ + ": " + *problem);
  }

  const nlohmann::json& object_;
  std::string what_;
  std::set<std::string, std::less<>> read_;
  std::optional<std::string> error_;
};

class FieldWriter {
 public:
  FieldWriter& Uint(std::string_view key, uint64_t value, uint64_t = kNoBound);
  FieldWriter& Uint32(std::string_view key, uint32_t value);
  FieldWriter& Bool(std::string_view key, bool value);
  FieldWriter& String(std::string_view key, const std::string& value, size_t = 0);
  FieldWriter& Digest(std::string_view key, const std::string& value);
  FieldWriter& OneOf(std::string_view key, const std::string& value, std::initializer_list<std::string_view> = {});
  FieldWriter& Hex16(std::string_view key, const std::array<uint8_t, 16>& value);
  FieldWriter& Strings(std::string_view key, const std::vector<std::string>& value, size_t = 0, size_t = 0);
  FieldWriter& Digests(std::string_view key, const std::vector<std::string>& value, size_t = 0);
  FieldWriter& OptionalUint(std::string_view key, const std::optional<uint64_t>& value, uint64_t = kNoBound);
  FieldWriter& OptionalString(std::string_view key, const std::string& value, size_t = 0);  // empty: absent

  template <class Body>
  FieldWriter& Object(std::string_view key, const Body& value) {
    object_[std::string(key)] = Write(value);
    return *this;
  }
  template <class Body>
  FieldWriter& OptionalObject(std::string_view key, const std::optional<Body>& value) {
    if (value) Object(key, *value);
    return *this;
  }
  template <class Body>
  FieldWriter& Objects(std::string_view key, const std::vector<Body>& values, size_t = 0) {
    nlohmann::json list = nlohmann::json::array();
    for (const Body& value : values) list.push_back(Write(value));
    object_[std::string(key)] = std::move(list);
    return *this;
  }

  template <class Body>
  static nlohmann::json Write(const Body& value) {
    FieldWriter writer;
    Body::Fields(value, writer);
    return std::move(writer.object_);
  }

 private:
  nlohmann::json object_ = nlohmann::json::object();
};

// A message body: JSON text (nesting bounded) that must be one object; errors name `what`.
Result<nlohmann::json> ParseObject(std::string_view body, const std::string& what);

// A body's text, and a body from text (strict: see FieldReader).
template <class Body>
std::string Encode(const Body& body) {
  return DumpJson(FieldWriter::Write(body));
}
template <class Body>
Result<Body> Decode(std::string_view text) {
  BANGER_ASSIGN_OR_RETURN(nlohmann::json object, ParseObject(text, Body::kName));
  FieldReader reader(object, Body::kName);
  Body body;
  Body::Fields(body, reader);
  BANGER_TRY(reader.Finish());
  return body;
}

}  // namespace banger::ipc
