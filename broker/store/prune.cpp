#include "broker/store/prune.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>

#include "broker/store/cache_lease.h"
#include "broker/store/files.h"
#include "broker/store/unpacked_cache.h"

namespace banger::broker {

Result<PruneReport> PruneCache(const CacheLayout& layout, bool dry_run) {
  PruneReport report;
  struct stat st {};
  if (::stat(layout.oci_dir().c_str(), &st) != 0) return report;  // nothing cached yet
  BANGER_ASSIGN_OR_RETURN(UniqueFd lock, LockFile(layout.lock_path(), LOCK_EX));
  BANGER_ASSIGN_OR_RETURN(std::vector<std::string> held_list, HeldDigests(layout, dry_run));
  const std::set<std::string> held(held_list.begin(), held_list.end());
  auto blobs = ListDirectory(layout.blobs_dir());
  for (const std::string& hex : blobs ? *blobs : std::vector<std::string>()) {
    const std::string path = layout.blobs_dir() + "/" + hex;
    if (::lstat(path.c_str(), &st) != 0) continue;
    if (held.count("sha256:" + hex)) {
      ++report.kept_in_use;
      continue;
    }
    if (!dry_run && ::unlink(path.c_str()) != 0) return Error::FromErrno("removing " + path);
    report.bytes += static_cast<uint64_t>(st.st_size);
    ++report.blobs;
  }
  const UnpackedCache::Removed unpacked = UnpackedCache(layout).RemoveAll(dry_run);
  report.bytes += unpacked.bytes;
  report.unpacked = unpacked.entries;
  // Remembered plans only spare a registry round trip; without their blobs they are moot.
  auto plans = ListDirectory(layout.plans_dir());
  if (!dry_run && plans) {
    for (const std::string& name : *plans) ::unlink((layout.plans_dir() + "/" + name).c_str());
  }
  return report;
}

}  // namespace banger::broker
