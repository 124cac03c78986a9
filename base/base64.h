// Base64 (RFC 4648, standard alphabet, padded), for credentials and signatures.
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace banger {

// The bytes `text` encodes; kMalformed when it is not base64.
Result<std::string> DecodeBase64(std::string_view text);
std::string EncodeBase64(std::string_view bytes);

}  // namespace banger
