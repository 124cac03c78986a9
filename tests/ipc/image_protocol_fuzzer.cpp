// libFuzzer target for every body of ipc/image_protocol.h; the first byte picks one.
#include <string_view>

#include "ipc/image_protocol.h"
#include "tests/ipc/protocol_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace banger::ipc;
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 2) {
    case 0: fuzz::Check<ImageRequest>(body); break;
    case 1: fuzz::Check<ImageSummary>(body); break;
  }
  return 0;
}
