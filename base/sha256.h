// sha256, the one digest banger computes: of bytes in memory, of a whole file, or
// incrementally (a layer as it inflates, a bundle as it compresses). OpenSSL does the
// work; this is the only place that calls it for a hash.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"

namespace banger {

using Sha256Bytes = std::array<unsigned char, 32>;

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void Update(const void* data, size_t size);
  void Update(std::string_view bytes) { Update(bytes.data(), bytes.size()); }
  // Adds `length` bytes of the file behind `fd` from `offset`, read through a read-only
  // map of its page cache (no copy into a buffer); errors name `what`.
  Result<void> UpdateFromFile(int fd, uint64_t offset, uint64_t length, const std::string& what);
  // The hash of everything given so far; the object is spent afterwards.
  Sha256Bytes Finish();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

Sha256Bytes Sha256Of(std::string_view bytes);
// "sha256:<hex>" of bytes in memory.
std::string Sha256DigestOf(std::string_view bytes);
// "sha256:<hex>" of everything readable from `fd` (pread from offset 0); the byte count
// goes to `size_out` when given.
Result<std::string> Sha256OfFd(int fd, uint64_t* size_out = nullptr);

}  // namespace banger
