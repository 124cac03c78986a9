// Bodies of the lifecycle messages every helper serves (messages.h), listed once like the
// jobs' (fields.h).
#pragma once

#include <cstdint>

#include "ipc/fields.h"

namespace banger::ipc {

// kLimitFileSize: the most any file the helper writes may hold from now on, once the
// broker knows what the job needs (security/spawn.h LimitFileSize).
struct FileSizeLimit {
  static constexpr const char* kName = "limit-file-size";
  uint64_t bytes = 0;
  bool operator==(const FileSizeLimit&) const = default;
  template <class Self, class V>
  static void Fields(Self& s, V& v) {
    v.Uint("bytes", s.bytes);
  }
};

}  // namespace banger::ipc
