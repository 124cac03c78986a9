// libFuzzer target for every decoder of ipc/unpack_protocol.h; the first byte picks one.
#include <string_view>

#include "ipc/unpack_protocol.h"
#include "tests/ipc/protocol_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace banger::ipc;
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0: fuzz::CheckDecoder(body, DecodeUnpackRequest); break;
    case 1: fuzz::CheckDecoder(body, DecodeLayerHandOff); break;
    case 2: fuzz::CheckDecoder(body, DecodeUnpackProgress); break;
    case 3: fuzz::CheckDecoder(body, DecodeUnpackSummary); break;
    case 4: fuzz::CheckDecoder(body, DecodeExtractRequest); break;
    case 5: fuzz::CheckDecoder(body, DecodeBundleExtracted); break;
  }
  return 0;
}
