// libFuzzer target for the frame decoder: any byte string either decodes to a frame
// that re-encodes to exactly the same bytes, or is refused with a named error.
#include <cstdlib>

#include "ipc/frame.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace banger::ipc;
  auto decoded = DecodeFrame(std::span<const uint8_t>(data, size), 1024);
  if (decoded) {
    std::string again = EncodeFrame(decoded->spec->type, decoded->body);
    if (again.size() != size || again.compare(0, size, reinterpret_cast<const char*>(data), size) != 0) std::abort();
    (void)CheckFdCount(*decoded->spec, size % 8);
  } else if (decoded.error().message.empty()) {
    std::abort();
  }
  return 0;
}
