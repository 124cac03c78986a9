// What every protocol fuzz target checks of one body type: bytes either decode to a value
// that encodes and decodes back to itself, or are refused with a named kMalformed error.
// Nothing may throw or crash in between.
#pragma once

#include <cstdlib>
#include <string_view>

#include "ipc/fields.h"

namespace banger::ipc::fuzz {

template <class Body>
void Check(std::string_view text) {
  auto decoded = Decode<Body>(text);
  if (!decoded) {
    if (decoded.error().code != ErrorCode::kMalformed || decoded.error().message.empty()) std::abort();
    return;
  }
  auto again = Decode<Body>(Encode(*decoded));
  if (!again || !(*again == *decoded)) std::abort();
}

}  // namespace banger::ipc::fuzz
