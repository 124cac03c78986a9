// libFuzzer target for every decoder of ipc/fetch_protocol.h; the first byte picks one.
#include <string_view>

#include "ipc/fetch_protocol.h"
#include "tests/ipc/protocol_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace banger::ipc;
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0: fuzz::CheckDecoder(body, DecodeResolveRequest); break;
    case 1: fuzz::CheckDecoder(body, [](std::string_view b) { return DecodeResolvedPlan(b, 128); }); break;
    case 2: fuzz::CheckDecoder(body, DecodeBlobRequest); break;
    case 3: fuzz::CheckDecoder(body, DecodeUrlRequest); break;
    case 4: fuzz::CheckDecoder(body, DecodeBlobProgress); break;
  }
  return 0;
}
