// A heap buffer for O_DIRECT I/O: page-aligned (4 KiB), freed with the alignment it was
// made with; and the copy that fills one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace banger {

inline constexpr std::align_val_t kDirectIoAlignment{4096};

struct AlignedFree {
  void operator()(char* p) const { ::operator delete[](p, kDirectIoAlignment); }
};

using AlignedBuffer = std::unique_ptr<char, AlignedFree>;

inline AlignedBuffer MakeAlignedBuffer(size_t bytes) {
  return AlignedBuffer(static_cast<char*>(::operator new[](bytes, kDirectIoAlignment)));
}

// Copies into a buffer only the device will read (O_DIRECT): with non-temporal stores
// where the CPU has them, so the copy neither reads the destination's old lines in
// first nor evicts what the caller still works on. Measured on bookworm-1's 227 MB of
// file data: 79 ms of CPU as memcpy, 10 ms this way (bench/RESULTS.md). Call
// FinishDirectIoCopies before another thread or the device reads the buffer.
inline void CopyForDirectIo(char* out, const char* in, size_t size) {
#if defined(__SSE2__)
  constexpr size_t kLine = 64;
  if (size >= 4 * kLine) {
    // Whole cache lines only: a line shared with ordinary stores would be written twice.
    size_t done = (kLine - reinterpret_cast<uintptr_t>(out) % kLine) % kLine;
    std::memcpy(out, in, done);
    for (; done + kLine <= size; done += kLine) {
      for (size_t lane = 0; lane < kLine; lane += 16) {
        const __m128i value = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + done + lane));
        _mm_stream_si128(reinterpret_cast<__m128i*>(out + done + lane), value);
      }
    }
    std::memcpy(out + done, in + done, size - done);
    return;
  }
#endif
  std::memcpy(out, in, size);
}

// Orders the non-temporal stores before whatever hands the buffer on.
inline void FinishDirectIoCopies() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

}  // namespace banger
