#include "broker/store/cache_layout.h"

#include "base/digest.h"
#include "broker/store/files.h"

namespace banger::broker {

Result<CacheLayout> CacheLayout::At(const std::string& cache_root) {
  if (cache_root.empty() || cache_root[0] != '/') {
    return Error{ErrorCode::kInvalidArgument, "cache directory must be an absolute path: '" + cache_root + "'"};
  }
  return CacheLayout(cache_root + "/oci");
}

Result<CacheLayout> CacheLayout::Open(const std::string& cache_root) {
  BANGER_ASSIGN_OR_RETURN(CacheLayout layout, At(cache_root));
  BANGER_TRY(MakePrivateDirs(layout.oci_dir()));
  BANGER_TRY(MakeDirs(layout.blobs_dir(), 0700));
  return layout;
}

std::string CacheLayout::BlobPath(std::string_view digest) const {
  return blobs_dir() + "/" + std::string(DigestHex(digest));
}

std::string CacheLayout::DownloadLockPath(std::string_view digest) const {
  return downloads_dir() + "/" + std::string(DigestHex(digest)) + ".lock";
}

}  // namespace banger::broker
