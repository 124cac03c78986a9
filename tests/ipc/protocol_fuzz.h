// What every protocol fuzz target checks of one decoder: a body either decodes to a value
// that encodes and decodes back to itself, or is refused with a named kMalformed error.
// Nothing may throw or crash in between.
#pragma once

#include <cstdlib>
#include <string_view>

#include "base/result.h"

namespace banger::ipc::fuzz {

template <class Decode>
void CheckDecoder(std::string_view body, Decode&& decode) {
  auto decoded = decode(body);
  if (!decoded) {
    if (decoded.error().code != ErrorCode::kMalformed || decoded.error().message.empty()) std::abort();
    return;
  }
  auto again = decode(Encode(*decoded));
  if (!again || !(*again == *decoded)) std::abort();
}

}  // namespace banger::ipc::fuzz
