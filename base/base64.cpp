#include "base/base64.h"

#include <openssl/evp.h>

#include <algorithm>

namespace banger {

Result<std::string> DecodeBase64(std::string_view text) {
  // EVP_DecodeBlock takes only whole groups of four and says nothing of the padding.
  if (text.size() % 4 != 0) return Error{ErrorCode::kMalformed, "invalid base64 (length not a multiple of 4)"};
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return Error{ErrorCode::kMalformed, "invalid base64"};
  size_t padding = 0;
  for (size_t i = text.size(); i > 0 && padding < 2 && text[i - 1] == '='; --i) ++padding;
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
