#include "base/sha256.h"

#include <openssl/evp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "base/digest.h"

namespace banger {

struct Sha256::Context {
  EVP_MD_CTX* ctx = nullptr;
  ~Context() { EVP_MD_CTX_free(ctx); }
};

// EVP_MD_CTX_new and a sha256 init fail only when the process is out of memory; a hash
// that silently did nothing would be worse than the abort new would give.
Sha256::Sha256() : context_(std::make_unique<Context>()) {
  context_->ctx = EVP_MD_CTX_new();
  if (context_->ctx == nullptr || EVP_DigestInit_ex(context_->ctx, EVP_sha256(), nullptr) != 1) {
    throw std::bad_alloc();
  }
}

Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::Update(const void* data, size_t size) { EVP_DigestUpdate(context_->ctx, data, size); }

Result<void> Sha256::UpdateFromFile(int fd, uint64_t offset, uint64_t length, const std::string& what) {
  constexpr uint64_t kWindow = 8 << 20;
  static const uint64_t kPage = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  while (length > 0) {
    const uint64_t start = offset / kPage * kPage;
    const uint64_t skip = offset - start;
    const uint64_t take = std::min(length, kWindow - skip);
    void* map = ::mmap(nullptr, skip + take, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, static_cast<off_t>(start));
    if (map == MAP_FAILED) return Error::FromErrno(what + " (mmap to hash)");
    Update(static_cast<const char*>(map) + skip, take);
    ::munmap(map, skip + take);
    offset += take;
    length -= take;
  }
  return {};
}

Sha256Bytes Sha256::Finish() {
  Sha256Bytes out{};
  unsigned int length = 0;
  EVP_DigestFinal_ex(context_->ctx, out.data(), &length);
  return out;
}

Sha256Bytes Sha256Of(std::string_view bytes) {
  Sha256Bytes out{};
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), out.data(), &length, EVP_sha256(), nullptr);
  return out;
}

std::string Sha256DigestOf(std::string_view bytes) { return Sha256Digest(Sha256Of(bytes)); }

Result<std::string> Sha256OfFd(int fd, uint64_t* size_out) {
  Sha256 hash;
  std::vector<char> buffer(1 << 20);
  uint64_t offset = 0;
  for (;;) {
    const ssize_t n = ::pread(fd, buffer.data(), buffer.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::FromErrno("reading a file to hash it");
    if (n == 0) break;
    hash.Update(buffer.data(), static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  if (size_out != nullptr) *size_out = offset;
  return Sha256Digest(hash.Finish());
}

}  // namespace banger
