// libFuzzer target for every body of ipc/unpack_protocol.h; the first byte picks one.
#include <string_view>

#include "ipc/unpack_protocol.h"
#include "tests/ipc/protocol_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace banger::ipc;
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0: fuzz::Check<UnpackRequest>(body); break;
    case 1: fuzz::Check<LayerHandOff>(body); break;
    case 2: fuzz::Check<UnpackProgress>(body); break;
    case 3: fuzz::Check<UnpackSummary>(body); break;
    case 4: fuzz::Check<ExtractRequest>(body); break;
    case 5: fuzz::Check<BundleExtracted>(body); break;
  }
  return 0;
}
