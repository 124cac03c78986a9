// libFuzzer target for the imager's record decoder: any bytes are refused with a named
// error or decode to a record that re-encodes to the same bytes.
#include <cstdlib>

#include "ipc/tree_stream.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace banger::ipc;
  std::string_view record(reinterpret_cast<const char*>(data), size);
  auto entry = DecodeTreeEntry(record, TreeStreamLimits{});
  if (entry) {
    if (EncodeTreeEntry(*entry) != record) std::abort();
  } else if (entry.error().message.empty()) {
    std::abort();
  }
  return 0;
}
