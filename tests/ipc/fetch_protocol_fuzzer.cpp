// libFuzzer target for every body of ipc/fetch_protocol.h; the first byte picks one.
#include <string_view>

#include "ipc/fetch_protocol.h"
#include "tests/ipc/protocol_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace banger::ipc;
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 5) {
    case 0: fuzz::Check<ResolveRequest>(body); break;
    case 1: fuzz::Check<ResolvedPlan>(body); break;
    case 2: fuzz::Check<BlobRequest>(body); break;
    case 3: fuzz::Check<UrlRequest>(body); break;
    case 4: fuzz::Check<BlobDone>(body); break;
  }
  return 0;
}
