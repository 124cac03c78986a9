#include "base/base64.h"

#include <openssl/evp.h>

#include <algorithm>

namespace banger {

namespace {

bool InAlphabet(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

}  // namespace

Result<std::string> DecodeBase64(std::string_view text) {
  // EVP_DecodeBlock takes only whole groups of four, trims blanks, and reads a '=' in the
  // middle as zero bits: so the text is checked here first, strictly.
  if (text.size() % 4 != 0) return Error{ErrorCode::kMalformed, "invalid base64 (length not a multiple of 4)"};
  size_t padding = 0;
  while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') ++padding;
  for (size_t i = 0; i + padding < text.size(); ++i) {
    if (!InAlphabet(text[i])) return Error{ErrorCode::kMalformed, "invalid base64 (a character outside its alphabet)"};
  }
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return Error{ErrorCode::kMalformed, "invalid base64"};
  out.resize(static_cast<size_t>(n) - std::min<size_t>(padding, static_cast<size_t>(n)));
  return out;
}

std::string EncodeBase64(std::string_view bytes) {
  std::string out((bytes.size() + 2) / 3 * 4 + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

}  // namespace banger
