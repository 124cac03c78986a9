#include "ipc/fields.h"

#include <algorithm>

#include "base/digest.h"
#include "base/text.h"

namespace banger::ipc {
namespace {

using nlohmann::json;

constexpr int kMaxBodyDepth = 8;
constexpr size_t kMaxDigestBytes = 100;

// 32 lowercase hex digits into 16 bytes; false for anything else.
bool FromHex16(const std::string& hex, std::array<uint8_t, 16>& out) {
  if (hex.size() != 32) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::array<uint8_t, 16> bytes{};
  for (size_t i = 0; i < 16; ++i) {
    const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    bytes[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  out = bytes;
  return true;
}

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

const json* FieldReader::FindObject(std::string_view key, bool required) {
  const json* value = Find(key, required);
  if (value != nullptr && !value->is_object()) return Refuse(key, "is not an object"), nullptr;
  return value;
}

const json* FieldReader::FindArray(std::string_view key, size_t max_items) {
  const json* value = Find(key, true);
  if (value == nullptr) return nullptr;
  if (!value->is_array()) return Refuse(key, "is not a list"), nullptr;
  if (value->size() > max_items) return Refuse(key, "has more than " + std::to_string(max_items) + " items"), nullptr;
  return value;
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
  String(key, digest, kMaxDigestBytes);
  if (ok() && !IsValidDigest(digest)) Refuse(key, "is not a sha256 digest");
  if (ok()) out = std::move(digest);
  return *this;
}

FieldReader& FieldReader::OneOf(std::string_view key, std::string& out, std::initializer_list<std::string_view> allowed) {
  std::string word;
  String(key, word, 64);
  if (ok() && std::find(allowed.begin(), allowed.end(), word) == allowed.end()) {
    std::string list;
    for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    Refuse(key, "is not one of " + list);
  }
  if (ok()) out = std::move(word);
  return *this;
}

FieldReader& FieldReader::Hex16(std::string_view key, std::array<uint8_t, 16>& out) {
  std::string hex;
  String(key, hex, 32);
  if (ok() && !FromHex16(hex, out)) Refuse(key, "is not 32 lowercase hex digits");
  return *this;
}

FieldReader& FieldReader::Strings(std::string_view key, std::vector<std::string>& out, size_t max_items,
                                  size_t max_bytes) {
  const json* list = FindArray(key, max_items);
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

FieldReader& FieldReader::Digests(std::string_view key, std::vector<std::string>& out, size_t max_items) {
  std::vector<std::string> digests;
  Strings(key, digests, max_items, kMaxDigestBytes);
  for (const std::string& digest : digests) {
    if (ok() && !IsValidDigest(digest)) Refuse(key, "holds something other than sha256 digests");
  }
  if (ok()) out = std::move(digests);
  return *this;
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

Result<void> FieldReader::Finish() {
  if (const auto& problem = Problem()) return Error{ErrorCode::kMalformed, "malformed " + what_ + ": " + *problem};
  return {};
}

FieldWriter& FieldWriter::Uint(std::string_view key, uint64_t value, uint64_t) {
  object_[std::string(key)] = value;
  return *this;
}

FieldWriter& FieldWriter::Uint32(std::string_view key, uint32_t value) { return Uint(key, value); }

FieldWriter& FieldWriter::Bool(std::string_view key, bool value) {
  object_[std::string(key)] = value;
  return *this;
}

FieldWriter& FieldWriter::String(std::string_view key, const std::string& value, size_t) {
  object_[std::string(key)] = value;
  return *this;
}

FieldWriter& FieldWriter::Digest(std::string_view key, const std::string& value) { return String(key, value); }

FieldWriter& FieldWriter::OneOf(std::string_view key, const std::string& value, std::initializer_list<std::string_view>) {
  return String(key, value);
}

FieldWriter& FieldWriter::Hex16(std::string_view key, const std::array<uint8_t, 16>& value) {
  return String(key, HexEncode(value.data(), value.size()));
}

FieldWriter& FieldWriter::Strings(std::string_view key, const std::vector<std::string>& value, size_t, size_t) {
  object_[std::string(key)] = value;
  return *this;
}

FieldWriter& FieldWriter::Digests(std::string_view key, const std::vector<std::string>& value, size_t) {
  return Strings(key, value);
}

FieldWriter& FieldWriter::OptionalUint(std::string_view key, const std::optional<uint64_t>& value, uint64_t) {
  if (value) Uint(key, *value);
  return *this;
}

FieldWriter& FieldWriter::OptionalString(std::string_view key, const std::string& value, size_t) {
  if (!value.empty()) String(key, value);
  return *this;
}

}  // namespace banger::ipc
