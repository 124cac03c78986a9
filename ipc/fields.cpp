#include "ipc/fields.h"

#include "base/digest.h"
#include "base/json.h"
#include "base/text.h"

namespace banger::ipc {
namespace {

using nlohmann::json;

constexpr int kMaxBodyDepth = 8;

}  // namespace

Result<json> ParseObject(std::string_view body, const std::string& what) {
  auto parsed = ParseJsonBounded(body, kMaxBodyDepth);
  if (!parsed) return Error{ErrorCode::kMalformed, "malformed " + what + ": " + parsed.error().message};
  if (!parsed->is_object()) return Error{ErrorCode::kMalformed, "malformed " + what + ": not a JSON object"};
  return parsed;
}

FieldReader::FieldReader(const json& object, std::string what) : object_(object), what_(std::move(what)) {
  if (!object_.is_object()) error_ = "not a JSON object";
}

bool FieldReader::Refuse(std::string_view key, const std::string& problem) {
  if (!error_) error_ = "'" + std::string(key) + "' " + problem;
  return false;
}

void FieldReader::Fail(const std::string& problem) {
  if (!error_) error_ = problem;
}

const json* FieldReader::Find(std::string_view key, bool required) {
  if (error_) return nullptr;
  read_.emplace(key);
  const auto it = object_.find(key);
  if (it == object_.end()) {
    if (required) Refuse(key, "is missing");
    return nullptr;
  }
  return &*it;
}

FieldReader& FieldReader::Uint(std::string_view key, uint64_t& out, uint64_t max) {
  const json* value = Find(key, true);
  if (value == nullptr) return *this;
  if (!value->is_number_unsigned()) {
    Refuse(key, "is not a whole number");
  } else if (value->get<uint64_t>() > max) {
    Refuse(key, "is over its bound of " + std::to_string(max));
  } else {
    out = value->get<uint64_t>();
  }
  return *this;
}

FieldReader& FieldReader::Uint32(std::string_view key, uint32_t& out) {
  uint64_t wide = out;
  Uint(key, wide, std::numeric_limits<uint32_t>::max());
  if (ok()) out = static_cast<uint32_t>(wide);
  return *this;
}

FieldReader& FieldReader::OptionalUint(std::string_view key, std::optional<uint64_t>& out, uint64_t max) {
  if (error_ || !object_.contains(key)) {
    read_.emplace(key);
    return *this;
  }
  uint64_t value = 0;
  Uint(key, value, max);
  if (ok()) out = value;
  return *this;
}

FieldReader& FieldReader::Bool(std::string_view key, bool& out) {
  const json* value = Find(key, true);
  if (value == nullptr) return *this;
  if (!value->is_boolean()) {
    Refuse(key, "is not true or false");
  } else {
    out = value->get<bool>();
  }
  return *this;
}

FieldReader& FieldReader::String(std::string_view key, std::string& out, size_t max_bytes) {
  const json* value = Find(key, true);
  if (value == nullptr) return *this;
  if (!value->is_string()) {
    Refuse(key, "is not a string");
  } else if (value->get_ref<const std::string&>().size() > max_bytes) {
    Refuse(key, "is longer than " + std::to_string(max_bytes) + " bytes");
  } else {
    out = value->get<std::string>();
  }
  return *this;
}

FieldReader& FieldReader::OptionalString(std::string_view key, std::string& out, size_t max_bytes) {
  if (error_ || !object_.contains(key)) {
    read_.emplace(key);
    return *this;
  }
  return String(key, out, max_bytes);
}

FieldReader& FieldReader::Digest(std::string_view key, std::string& out) {
  std::string digest;
  String(key, digest, 100);
  if (ok() && !IsValidDigest(digest)) {
    Refuse(key, "is not a sha256 digest");
  } else if (ok()) {
    out = std::move(digest);
  }
  return *this;
}

FieldReader& FieldReader::Strings(std::string_view key, std::vector<std::string>& out, size_t max_items,
                                  size_t max_bytes) {
  const json* list = Array(key, max_items);
  if (list == nullptr) return *this;
  std::vector<std::string> items;
  for (const json& item : *list) {
    if (!item.is_string()) return Refuse(key, "holds something other than strings"), *this;
    if (item.get_ref<const std::string&>().size() > max_bytes) {
      return Refuse(key, "holds a string longer than " + std::to_string(max_bytes) + " bytes"), *this;
    }
    items.push_back(item.get<std::string>());
  }
  out = std::move(items);
  return *this;
}

const json* FieldReader::Array(std::string_view key, size_t max_items) {
  const json* value = Find(key, true);
  if (value == nullptr) return nullptr;
  if (!value->is_array()) return Refuse(key, "is not a list"), nullptr;
  if (value->size() > max_items) return Refuse(key, "has more than " + std::to_string(max_items) + " items"), nullptr;
  return value;
}

const json* FieldReader::Object(std::string_view key) {
  const json* value = Find(key, true);
  if (value == nullptr) return nullptr;
  if (!value->is_object()) return Refuse(key, "is not an object"), nullptr;
  return value;
}

const json* FieldReader::OptionalObject(std::string_view key) {
  if (error_ || !object_.contains(key)) {
    read_.emplace(key);
    return nullptr;
  }
  return Object(key);
}

const std::optional<std::string>& FieldReader::Problem() {
  if (!error_) {
    for (const auto& [key, value] : object_.items()) {
      if (!read_.count(key)) {
        error_ = "unknown key '" + Printable(key, 64) + "'";
        break;
      }
    }
  }
  return error_;
}

void FieldReader::Absorb(FieldReader& nested) {
  if (const auto& problem = nested.Problem()) Fail(nested.what_ + ": " + *problem);
}

Result<void> FieldReader::Finish() {
  if (const auto& problem = Problem()) return Error{ErrorCode::kMalformed, "malformed " + what_ + ": " + *problem};
  return {};
}

}  // namespace banger::ipc
