#include "base/aligned_buffer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace banger {
namespace {

// Every size around the streaming loop's edges, from aligned and unaligned sources and
// into aligned and unaligned places: the bytes arrive, and nothing past them changes.
TEST(CopyForDirectIo, CopiesEveryByteAndNothingMore) {
  std::vector<char> source(8192 + 64);
  for (size_t i = 0; i < source.size(); ++i) source[i] = static_cast<char>((i * 131 + 7) % 251 + 1);
  AlignedBuffer buffer = MakeAlignedBuffer(16384);
  for (size_t size : {0, 1, 15, 63, 64, 255, 256, 257, 319, 4095, 4096, 4097, 8192}) {
    for (size_t from : {0, 1, 17}) {
      for (size_t into : {0, 16, 3}) {
        SCOPED_TRACE("size " + std::to_string(size) + " from +" + std::to_string(from) + " into +" +
                     std::to_string(into));
        std::memset(buffer.get(), 0, 16384);
        CopyForDirectIo(buffer.get() + into, source.data() + from, size);
        FinishDirectIoCopies();
        EXPECT_EQ(std::string(buffer.get() + into, size), std::string(source.data() + from, size));
        EXPECT_EQ(std::string(buffer.get(), into), std::string(into, '\0'));
        EXPECT_EQ(std::string(buffer.get() + into + size, 64), std::string(64, '\0'));
      }
    }
  }
}

}  // namespace
}  // namespace banger
