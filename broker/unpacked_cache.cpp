#include "broker/unpacked_cache.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "banger_version.h"
#include "base/digest.h"
#include "base/sha256.h"
#include "broker/blob_cache.h"
#include "broker/helper_paths.h"
#include "broker/image_fetch.h"

namespace banger::broker {
namespace {

constexpr const char* kSummaryName = "unpacked.json";

std::string BootId() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

Result<void> LinkFd(int fd, const std::string& path) {
  const std::string source = "/proc/self/fd/" + std::to_string(fd);
  if (::linkat(AT_FDCWD, source.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) != 0) {
    return Error::FromErrno("linking " + path);
  }
  return {};
}

// The unpacker executable carries the guest files: a rebuilt or reinstalled one (same
// version or not) must not reuse what the old one made.
std::string UnpackerIdentity() {
  auto path = LocateHelper(security::ProcessKind::kUnpacker);
  struct stat st {};
  if (!path || ::stat(path->c_str(), &st) != 0) return "unknown";
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
         std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
}

}  // namespace

std::string UnpackedCache::Key(const FetchedImage& image, const nlohmann::json& unpack_request) {
  std::string text = "banger unpacked v1\n" + std::string(BANGER_VERSION) + "\n" + UnpackerIdentity() + "\n" +
                     image.config.digest + "\n";
  for (const auto& layer : image.layers) text += layer.digest + "\n";
  text += unpack_request.dump() + "\n";
  const Sha256Bytes md = Sha256Of(text);
  return HexEncode(md.data(), md.size());
}

std::optional<UnpackedEntry> UnpackedCache::Find(const std::string& key) const {
  const std::string entry = dir_ + "/" + key;
  std::ifstream in(entry + "/" + kSummaryName);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  auto summary = nlohmann::json::parse(text.str(), nullptr, false);
  const std::string boot = BootId();
  if (boot.empty() || !summary.is_object() || summary.value("boot_id", "") != boot || !summary.contains("done")) {
    std::error_code ec;
    std::filesystem::remove_all(entry, ec);  // from before a reboot, or damaged
    return std::nullopt;
  }
  UnpackedEntry found;
  found.spool.reset(::open((entry + "/spool").c_str(), O_RDONLY | O_CLOEXEC));
  found.tree.reset(::open((entry + "/tree").c_str(), O_RDONLY | O_CLOEXEC));
  if (!found.spool || !found.tree) return std::nullopt;
  found.done = summary["done"];
  return found;
}

Result<UniqueFd> UnpackedCache::CreateFile() const {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  UniqueFd fd(::open(dir_.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!fd) return Error::FromErrno("creating a file in " + dir_);
  return fd;
}

Result<void> UnpackedCache::Store(const std::string& key, int spool_fd, int tree_fd,
                                  const nlohmann::json& done) const {
  // Without a boot id an entry could not be told from one a crash cut short.
  if (BootId().empty()) return Error{ErrorCode::kNotFound, "no boot id to mark the unpacked cache entry with"};
  unsigned char random[8];
  if (::getrandom(random, sizeof random, 0) != sizeof random) return Error::FromErrno("getrandom");
  const std::string staging = dir_ + "/." + key + "." + HexEncode(random, sizeof random);
  if (::mkdir(staging.c_str(), 0700) != 0) return Error::FromErrno("creating " + staging);
  auto stored = [&]() -> Result<void> {
    BANGER_TRY(LinkFd(spool_fd, staging + "/spool"));
    BANGER_TRY(LinkFd(tree_fd, staging + "/tree"));
    std::ofstream out(staging + "/" + kSummaryName);
    out << nlohmann::json{{"boot_id", BootId()}, {"done", done}}.dump() << "\n";
    if (!out) return Error{ErrorCode::kIo, "writing " + staging + "/" + kSummaryName};
    out.close();
    // Another pull of the same image may have stored it first: then this copy goes.
    if (::rename(staging.c_str(), (dir_ + "/" + key).c_str()) != 0) return Error::FromErrno("renaming " + staging);
    return {};
  }();
  if (!stored) {
    std::error_code ec;
    std::filesystem::remove_all(staging, ec);
  }
  return stored;
}

UnpackedCache::Removed UnpackedCache::RemoveAll(const std::string& oci_dir, bool dry_run) {
  // Pulls store and remove entries while this runs: whatever is gone already is skipped.
  const std::string dir = oci_dir + "/unpacked";
  Removed removed;
  auto names = ListDirectory(dir);
  if (!names) return removed;
  for (const std::string& name : *names) {
    const std::string entry = dir + "/" + name;
    const uint64_t bytes = AllocatedBytes(entry);
    if (name[0] != '.') ++removed.entries;  // dot names: being stored
    if (!dry_run) {
      std::error_code ec;
      std::filesystem::remove_all(entry, ec);
      if (ec) continue;
    }
    removed.bytes += bytes;
  }
  return removed;
}

}  // namespace banger::broker
