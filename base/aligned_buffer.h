// A heap buffer for O_DIRECT I/O: page-aligned (4 KiB), freed with the alignment it was
// made with.
#pragma once

#include <cstddef>
#include <memory>
#include <new>

namespace banger {

inline constexpr std::align_val_t kDirectIoAlignment{4096};

struct AlignedFree {
  void operator()(char* p) const { ::operator delete[](p, kDirectIoAlignment); }
};

using AlignedBuffer = std::unique_ptr<char, AlignedFree>;

inline AlignedBuffer MakeAlignedBuffer(size_t bytes) {
  return AlignedBuffer(static_cast<char*>(::operator new[](bytes, kDirectIoAlignment)));
}

}  // namespace banger
