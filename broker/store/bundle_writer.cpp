#include "broker/store/bundle_writer.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <zstd.h>

#include <cstdio>
#include <cstring>
#include <array>
#include <memory>
#include <optional>
#include <vector>

#include "base/digest.h"
#include "base/fd.h"
#include "base/json.h"
#include "base/sha256.h"
#include "broker/store/files.h"

namespace banger::broker {
namespace {

constexpr size_t kTarBlock = 512;
constexpr int kZstdLevel = 3;

// A ustar header for a regular file owned 0:0 with time 0; sizes past the octal field
// use the base-256 form GNU tar and libarchive read.
std::array<char, kTarBlock> TarHeader(const std::string& name, uint64_t size) {
  std::array<char, kTarBlock> h{};
  std::memcpy(h.data(), name.data(), std::min<size_t>(name.size(), 99));
  std::snprintf(h.data() + 100, 8, "%07o", 0644);
  std::snprintf(h.data() + 108, 8, "%07o", 0);
  std::snprintf(h.data() + 116, 8, "%07o", 0);
  if (size < (1ull << 33)) {
    std::snprintf(h.data() + 124, 12, "%011llo", static_cast<unsigned long long>(size));
  } else {
    h[124] = static_cast<char>(0x80);
    for (int i = 0; i < 8; ++i) h[135 - i] = static_cast<char>((size >> (8 * i)) & 0xff);
  }
  std::snprintf(h.data() + 136, 12, "%011o", 0);
  h[156] = '0';
  std::memcpy(h.data() + 257, "ustar", 6);
  std::memcpy(h.data() + 263, "00", 2);
  std::memcpy(h.data() + 148, "        ", 8);
  unsigned sum = 0;
  for (char c : h) sum += static_cast<unsigned char>(c);
  std::snprintf(h.data() + 148, 8, "%06o", sum);
  h[155] = ' ';
  return h;
}

// zstd-compresses into `fd` and hashes what it writes.
class ZstdFileWriter {
 public:
  explicit ZstdFileWriter(int fd) : fd_(fd), ctx_(ZSTD_createCCtx(), ZSTD_freeCCtx), out_(ZSTD_CStreamOutSize()) {
    ZSTD_CCtx_setParameter(ctx_.get(), ZSTD_c_compressionLevel, kZstdLevel);
  }
  Result<void> Write(const char* data, size_t size, ZSTD_EndDirective mode = ZSTD_e_continue) {
    ZSTD_inBuffer in{data, size, 0};
    for (;;) {
      ZSTD_outBuffer out{out_.data(), out_.size(), 0};
      const size_t left = ZSTD_compressStream2(ctx_.get(), &out, &in, mode);
      if (ZSTD_isError(left)) return Error{ErrorCode::kIo, std::string("zstd: ") + ZSTD_getErrorName(left)};
      BANGER_TRY(Emit(out_.data(), out.pos));
      if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size) return {};
    }
  }
  Result<WrittenBundle> Finish() {
    BANGER_TRY(Write(nullptr, 0, ZSTD_e_end));
    const Sha256Bytes md = hash_.Finish();
    return WrittenBundle{HexEncode(md.data(), md.size()), written_};
  }

 private:
  Result<void> Emit(const char* data, size_t size) {
    hash_.Update(data, size);
    BANGER_TRY(WriteAll(fd_, std::string_view(data, size), "writing the bundle"));
    written_ += size;
    return {};
  }
  int fd_;
  std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> ctx_;
  Sha256 hash_;
  std::vector<char> out_;
  uint64_t written_ = 0;
};

Result<void> Pad(ZstdFileWriter& out, uint64_t size) {
  static const char kZeros[kTarBlock] = {};
  if (size % kTarBlock != 0) BANGER_TRY(out.Write(kZeros, kTarBlock - size % kTarBlock));
  return {};
}

Result<void> AddBytes(ZstdFileWriter& out, const std::string& name, const std::string& bytes) {
  auto header = TarHeader(name, bytes.size());
  BANGER_TRY(out.Write(header.data(), header.size()));
  BANGER_TRY(out.Write(bytes.data(), bytes.size()));
  return Pad(out, bytes.size());
}

Result<void> AddFile(ZstdFileWriter& out, const std::string& name, int fd, uint64_t size) {
  auto header = TarHeader(name, size);
  BANGER_TRY(out.Write(header.data(), header.size()));
  std::vector<char> buffer(1 << 20);
  for (uint64_t done = 0; done < size;) {
    ssize_t n = ::pread(fd, buffer.data(), std::min<uint64_t>(buffer.size(), size - done), static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error::FromErrno("reading " + name);
    BANGER_TRY(out.Write(buffer.data(), static_cast<size_t>(n)));
    done += static_cast<uint64_t>(n);
  }
  return Pad(out, size);
}

}  // namespace

namespace {

// The bundle's bytes into `out`.
Result<WrittenBundle> WriteInto(const std::string& rootfs_path, const ipc::BundleManifest& manifest, int out) {
  UniqueFd rootfs(::open(rootfs_path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (!rootfs || ::fstat(rootfs.get(), &st) != 0) return Error::FromErrno("reading " + rootfs_path);
  const std::string manifest_text = DumpJson({{"name", manifest.name},
                                              {"distro", manifest.distro},
                                              {"arch", manifest.arch},
                                              {"kernel_ref", manifest.kernel_ref}},
                                             2) +
                                    "\n";
  ZstdFileWriter writer(out);
  BANGER_TRY(AddBytes(writer, "manifest.json", manifest_text));
  BANGER_TRY(AddFile(writer, "rootfs.ext4", rootfs.get(), static_cast<uint64_t>(st.st_size)));
  static const char kEnd[2 * kTarBlock] = {};
  BANGER_TRY(writer.Write(kEnd, sizeof kEnd));
  return writer.Finish();
}

}  // namespace

Result<WrittenBundle> WriteBundle(const std::string& rootfs_path, const ipc::BundleManifest& manifest,
                                  const std::string& out_path, bool replace) {
  std::optional<WrittenBundle> bundle;
  BANGER_TRY(ReplaceFileAtomically(out_path, {.mode = 0644, .replace = replace}, [&](int out) -> Result<void> {
    BANGER_ASSIGN_OR_RETURN(bundle, WriteInto(rootfs_path, manifest, out));
    return {};
  }));
  return *bundle;
}

Result<WrittenBundle> WriteBundleTo(const std::string& rootfs_path, const ipc::BundleManifest& manifest, int out) {
  struct stat st {};
  const int mode = ::fcntl(out, F_GETFL);
  if (::fstat(out, &st) != 0 || mode < 0) return Error::FromErrno("the bundle's output file");
  if (!S_ISREG(st.st_mode) || st.st_size != 0 || (mode & O_ACCMODE) == O_RDONLY || (mode & O_APPEND) != 0) {
    return Error{ErrorCode::kInvalidArgument, "the bundle's output must be an empty regular file opened for writing"};
  }
  // Not one in memory (a memfd, tmpfs: the daemon's memory would pay) nor on FUSE (its
  // owner could stall the daemon's writes).
  struct statfs fs {};
  if (::fstatfs(out, &fs) != 0) return Error::FromErrno("fstatfs on the bundle's output file");
  const unsigned long kinds[] = {TMPFS_MAGIC, RAMFS_MAGIC, HUGETLBFS_MAGIC, FUSE_SUPER_MAGIC};
  for (const unsigned long kind : kinds) {
    if (static_cast<unsigned long>(fs.f_type) == kind) {
      return Error{ErrorCode::kInvalidArgument, "the bundle's output must be a file on a disk (not tmpfs, ramfs or FUSE)"};
    }
  }
  BANGER_ASSIGN_OR_RETURN(WrittenBundle bundle, WriteInto(rootfs_path, manifest, out));
  if (::fsync(out) != 0) return Error::FromErrno("fsync of the bundle");
  return bundle;
}

}  // namespace banger::broker
