#include "base/text.h"

#include <cstdint>
#include <cstdio>

namespace banger {
namespace {

// Length of the valid UTF-8 sequence at the start of `s`, or 0 (overlong forms,
// surrogates and code points past U+10FFFF are not valid).
size_t Utf8Length(std::string_view s) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(0);
  size_t length = 0;
  uint32_t min = 0, code = 0;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2, min = 0x80, code = lead & 0x1f;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3, min = 0x800, code = lead & 0x0f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4, min = 0x10000, code = lead & 0x07;
  } else {
    return 0;
  }
  if (s.size() < length) return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xc0) != 0x80) return 0;
    code = code << 6 | (byte(i) & 0x3f);
  }
  if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return 0;
  return length;
}

}  // namespace

namespace {

// A character a terminal acts on, or one that reorders or breaks what is shown, though
// it is valid UTF-8: C1 controls, the Arabic letter mark (U+061C), the left-to-right and
// right-to-left marks (U+200E, U+200F), the line and paragraph separators (U+2028,
// U+2029), the bidi embeddings and overrides (U+202A..U+202E) and isolates
// (U+2066..U+2069).
bool IsControlCodePoint(std::string_view utf8) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(utf8[i]); };
  if (utf8.size() == 2) return (byte(0) == 0xc2 && byte(1) < 0xa0) || (byte(0) == 0xd8 && byte(1) == 0x9c);
  if (utf8.size() != 3 || byte(0) != 0xe2) return false;
  const unsigned second = byte(1), third = byte(2);
  return (second == 0x80 && (third == 0x8e || third == 0x8f || (third >= 0xa8 && third <= 0xae))) ||
         (second == 0x81 && third >= 0xa6 && third <= 0xa9);
}

std::string Escape(std::string_view raw, size_t max_bytes, bool escape_backslash) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  size_t i = 0;
  while (i < raw.size()) {
    const unsigned char c = static_cast<unsigned char>(raw[i]);
    size_t take = 1;
    std::string piece;
    if (c >= 0x20 && c < 0x7f && (c != '\\' || !escape_backslash)) {
      piece.assign(1, static_cast<char>(c));
    } else if (c >= 0x80 && (take = Utf8Length(raw.substr(i))) != 0 && !IsControlCodePoint(raw.substr(i, take))) {
      piece.assign(raw.substr(i, take));
    } else {
      take = take == 0 ? 1 : take;
      for (size_t k = 0; k < take; ++k) {
        const unsigned char b = static_cast<unsigned char>(raw[i + k]);
        piece += std::string("\\x") + kHex[b >> 4] + kHex[b & 15];
      }
    }
    if (out.size() + piece.size() > max_bytes) return out + "...";
    out += piece;
    i += take;
  }
  return out;
}

}  // namespace

std::string Printable(std::string_view raw, size_t max_bytes) { return Escape(raw, max_bytes, true); }

std::string TerminalSafe(std::string_view text, size_t max_bytes) { return Escape(text, max_bytes, false); }

std::string UtcTime(int64_t seconds) {
  // The days-to-civil algorithm of H. Hinnant's date library.
  const int64_t days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400;
  const int64_t in_day = seconds - days * 86400;
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  char text[96];
  std::snprintf(text, sizeof text, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lldZ", static_cast<long long>(year),
                static_cast<long long>(month), static_cast<long long>(day), static_cast<long long>(in_day / 3600),
                static_cast<long long>(in_day / 60 % 60), static_cast<long long>(in_day % 60));
  return text;
}

std::string HumanBytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
  return text;
}

std::string AsciiLower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace banger
