// libFuzzer target for every body of ipc/daemon_protocol.h; the first byte picks one.
#include <string_view>

#include "ipc/daemon_protocol.h"
#include "tests/ipc/protocol_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace banger::ipc;
  if (size == 0) return 0;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: fuzz::Check<DaemonRequest>(body); break;
    case 1: fuzz::Check<DaemonExit>(body); break;
    case 2: fuzz::Check<DaemonCancel>(body); break;
  }
  return 0;
}
