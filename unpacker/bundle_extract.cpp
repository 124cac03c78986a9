#include "unpacker/bundle_extract.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "base/digest.h"
#include "base/json.h"
#include "base/text.h"
#include "ipc/channel.h"
#include "unpacker/layer_stream.h"
#include "unpacker/spool_writer.h"
#include "unpacker/tar_reader.h"

namespace banger::unpacker {
namespace {

constexpr size_t kSparseBlock = 4096;
constexpr const char* kRootfs = "rootfs.ext4";
constexpr const char* kManifest = "manifest.json";

// Writes the rootfs, leaving all-zero blocks as holes (the image is mostly holes).
class SparseWriter {
 public:
  explicit SparseWriter(int fd) : fd_(fd) {}
  Result<void> Write(uint64_t offset, const char* data, size_t size) {
    while (size > 0) {
      const size_t in_block = static_cast<size_t>(kSparseBlock - offset % kSparseBlock);
      const size_t chunk = std::min(size, in_block);
      if (!IsAllZero(data, chunk)) {
        for (size_t done = 0; done < chunk;) {
          ssize_t n = ::pwrite(fd_, data + done, chunk - done, static_cast<off_t>(offset + done));
          if (n <= 0) return Error::FromErrno("writing rootfs.ext4");
          done += static_cast<size_t>(n);
        }
      }
      offset += chunk;
      data += chunk;
      size -= chunk;
    }
    return {};
  }

 private:
  int fd_;
};

// Other keys are allowed (a newer bundle may carry more); the four banger reads are checked.
Result<ipc::BundleManifest> CheckManifest(const std::string& text) {
  BANGER_ASSIGN_OR_RETURN(nlohmann::json parsed, ParseJsonBounded(text, 4));
  if (!parsed.is_object()) return Error{ErrorCode::kMalformed, "bundle: manifest.json is not a JSON object"};
  ipc::BundleManifest out;
  for (auto [key, slot] : {std::pair{"name", &out.name}, std::pair{"distro", &out.distro}, std::pair{"arch", &out.arch},
                           std::pair{"kernel_ref", &out.kernel_ref}}) {
    if (!parsed.contains(key)) continue;
    const auto& value = parsed[key];
    if (!value.is_string() || value.get_ref<const std::string&>().size() > ipc::kMaxBundleField) {
      return Error{ErrorCode::kMalformed, std::string("bundle: manifest.json's ") + key + " is not a short string"};
    }
    *slot = value.get<std::string>();
  }
  if (out.name.empty()) return Error{ErrorCode::kMalformed, "bundle: manifest.json has no name"};
  return out;
}

}  // namespace

Result<ExtractedBundle> ExtractBundle(int bundle_fd, int rootfs_fd, const BundleLimits& limits) {
  StreamLimits stream_limits;
  stream_limits.max_uncompressed_bytes = limits.max_rootfs_bytes + limits.max_manifest_bytes + (1 << 20);
  BANGER_ASSIGN_OR_RETURN(auto stream, LayerStream::Open(bundle_fd, "bundle", stream_limits));
  if (stream->format() != LayerStream::Format::kZstd) {
    return Error{ErrorCode::kMalformed, "bundle: not a zstd-compressed tar (.tar.zst)"};
  }
  BANGER_ASSIGN_OR_RETURN(auto reader, TarReader::Open(*stream, 1 << 20));
  ExtractedBundle out;
  bool have_rootfs = false, have_manifest = false;
  std::string manifest;
  for (;;) {
    BANGER_ASSIGN_OR_RETURN(std::optional<TarEntry> entry, reader->Next());
    if (!entry) break;
    std::string name = entry->path;
    if (name.rfind("./", 0) == 0) name.erase(0, 2);
    const std::string shown = Printable(entry->path);
    const bool is_rootfs = name == kRootfs, is_manifest = name == kManifest;
    if (!is_rootfs && !is_manifest) {
      return Error{ErrorCode::kMalformed, "bundle: unexpected entry '" + shown + "' (only rootfs.ext4 and manifest.json)"};
    }
    if (entry->hardlink || entry->kind != ipc::EntryKind::kRegular) {
      return Error{ErrorCode::kMalformed, "bundle: '" + shown + "' is not a regular file"};
    }
    if ((is_rootfs && have_rootfs) || (is_manifest && have_manifest)) {
      return Error{ErrorCode::kMalformed, "bundle: '" + shown + "' appears twice"};
    }
    if (is_rootfs) {
      if (entry->size > limits.max_rootfs_bytes) {
        return Error{ErrorCode::kOversized, "bundle: rootfs.ext4 is larger than " +
                                                std::to_string(limits.max_rootfs_bytes) + " bytes"};
      }
      SparseWriter writer(rootfs_fd);
      BANGER_TRY(reader->ReadData([&](uint64_t offset, const char* data, size_t size) -> Result<void> {
        if (offset + size > entry->size) return Error{ErrorCode::kMalformed, "bundle: rootfs.ext4 runs past its size"};
        return writer.Write(offset, data, size);
      }));
      if (::ftruncate(rootfs_fd, static_cast<off_t>(entry->size)) != 0) return Error::FromErrno("sizing rootfs.ext4");
      out.rootfs_bytes = entry->size;
      have_rootfs = true;
    } else {
      if (entry->size > limits.max_manifest_bytes) return Error{ErrorCode::kOversized, "bundle: manifest.json is too large"};
      BANGER_TRY(reader->ReadData([&](uint64_t offset, const char* data, size_t size) -> Result<void> {
        if (offset != manifest.size()) return Error{ErrorCode::kMalformed, "bundle: manifest.json is sparse"};
        manifest.append(data, size);
        return {};
      }));
      have_manifest = true;
    }
  }
  if (!have_rootfs) return Error{ErrorCode::kMalformed, "bundle: no rootfs.ext4 in it"};
  if (!have_manifest) return Error{ErrorCode::kMalformed, "bundle: no manifest.json in it"};
  BANGER_ASSIGN_OR_RETURN(out.manifest, CheckManifest(manifest));
  return out;
}

}  // namespace banger::unpacker
