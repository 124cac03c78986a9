#include "broker/store/unpacked_cache.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/digest.h"
#include "base/json.h"
#include "base/sha256.h"
#include "broker/store/files.h"

namespace banger::broker {
namespace {

constexpr const char* kSummaryName = "unpacked.json";
constexpr uint64_t kMaxSummaryBytes = 1 << 20;

std::string BootId() {
  auto id = ReadSmallFile("/proc/sys/kernel/random/boot_id", 64);
  if (!id) return "";
  while (!id->empty() && id->back() == '\n') id->pop_back();
  return *id;
}

nlohmann::json IdentityJson(const FileIdentity& id) {
  return {{"device", id.device}, {"inode", id.inode}, {"size", id.size}, {"mtime_sec", id.mtime_sec},
          {"mtime_nsec", id.mtime_nsec}};
}

std::optional<FileIdentity> IdentityFrom(const nlohmann::json& j) {
  if (!j.is_object()) return std::nullopt;
  FileIdentity id;
  try {
    id.device = j.at("device").get<uint64_t>();
    id.inode = j.at("inode").get<uint64_t>();
    id.size = j.at("size").get<uint64_t>();
    id.mtime_sec = j.at("mtime_sec").get<int64_t>();
    id.mtime_nsec = j.at("mtime_nsec").get<int64_t>();
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
  return id;
}

struct StoredSummary {
  ipc::UnpackSummary done;
  FileIdentity image;
};

// The stored summary: {"boot_id": "...", "done": <unpack-done body>, "image": identity}.
std::optional<StoredSummary> ReadSummary(const std::string& path, const std::string& boot) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return std::nullopt;
  auto text = ReadWholeFd(fd.get(), kMaxSummaryBytes, path);
  if (!text) return std::nullopt;
  auto parsed = ParseJsonBounded(*text, 8);
  if (!parsed || !parsed->is_object()) return std::nullopt;
  const auto id = parsed->find("boot_id");
  const auto done = parsed->find("done");
  const auto image = parsed->find("image");
  if (id == parsed->end() || !id->is_string() || *id != boot || done == parsed->end() || image == parsed->end()) {
    return std::nullopt;
  }
  auto summary = ipc::Decode<ipc::UnpackSummary>(done->dump());
  auto identity = IdentityFrom(*image);
  if (!summary || !identity) return std::nullopt;
  return StoredSummary{std::move(*summary), *identity};
}

}  // namespace

std::string UnpackedKey::Hash() const {
  std::string text = "banger unpacked v3\n" + banger_version + "\n" + unpacker_identity + "\n" + config_digest + "\n";
  for (const auto& layer : layer_digests) text += layer + "\n";
  ipc::UnpackRequest settings = request;
  settings.layers.clear();
  text += ipc::Encode(settings) + "\n";
  const Sha256Bytes md = Sha256Of(text);
  return HexEncode(md.data(), md.size());
}

std::optional<UnpackedEntry> UnpackedCache::Find(const std::string& key) const {
  const std::string entry = dir_ + "/" + key;
  struct stat st {};
  if (::lstat(entry.c_str(), &st) != 0) return std::nullopt;
  const std::string boot = BootId();
  auto summary = boot.empty() ? std::nullopt : ReadSummary(entry + "/" + kSummaryName, boot);
  if (!summary) {
    RemoveTree(entry);  // from before a reboot, or damaged
    return std::nullopt;
  }
  UnpackedEntry found;
  found.image.reset(::open((entry + "/image").c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  found.tree.reset(::open((entry + "/tree").c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!found.image || !found.tree) return std::nullopt;
  auto now = FileIdentity::Of(found.image.get());
  if (!now || !(*now == summary->image)) {
    RemoveTree(entry);  // the image was written to since: its region is not what the tree says
    return std::nullopt;
  }
  found.summary = std::move(summary->done);
  found.identity = *now;
  return found;
}

Result<FileIdentity> FileIdentity::Of(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Error::FromErrno("fstat");
  return FileIdentity{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                      static_cast<uint64_t>(st.st_size), static_cast<int64_t>(st.st_mtim.tv_sec),
                      static_cast<int64_t>(st.st_mtim.tv_nsec)};
}

Result<UniqueFd> UnpackedCache::CreateFile() const {
  BANGER_TRY(MakeDirs(dir_, 0700));
  UniqueFd fd(::open(dir_.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!fd) return Error::FromErrno("creating a file in " + dir_);
  return fd;
}

Result<void> UnpackedCache::Store(const std::string& key, int image_fd, int tree_fd,
                                  const ipc::UnpackSummary& summary, const FileIdentity& identity) const {
  // Without a boot id an entry could not be told from one a crash cut short.
  const std::string boot = BootId();
  if (boot.empty()) return Error{ErrorCode::kNotFound, "no boot id to mark the unpacked cache entry with"};
  unsigned char random[8];
  if (::getrandom(random, sizeof random, 0) != sizeof random) return Error::FromErrno("getrandom");
  const std::string staging = dir_ + "/." + key + "." + HexEncode(random, sizeof random);
  if (::mkdir(staging.c_str(), 0700) != 0) return Error::FromErrno("mkdir " + staging);
  auto stored = [&]() -> Result<void> {
    BANGER_TRY(LinkFd(image_fd, staging + "/image"));
    BANGER_TRY(LinkFd(tree_fd, staging + "/tree"));
    BANGER_ASSIGN_OR_RETURN(FileIdentity image, FileIdentity::Of(image_fd));
    if (!(image == identity)) return Error{ErrorCode::kIo, "the image was written to after the pull wrote it"};
    BANGER_ASSIGN_OR_RETURN(nlohmann::json done, ParseJsonBounded(ipc::Encode(summary)));
    const nlohmann::json record = {{"boot_id", boot}, {"done", std::move(done)}, {"image", IdentityJson(image)}};
    UniqueFd out(::open((staging + "/" + kSummaryName).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!out) return Error::FromErrno("creating " + staging + "/" + kSummaryName);
    BANGER_TRY(WriteAll(out.get(), DumpJson(record) + "\n", "writing " + staging + "/" + kSummaryName));
    // Another pull of the same image may have stored it first: then this copy goes.
    if (::rename(staging.c_str(), (dir_ + "/" + key).c_str()) != 0) return Error::FromErrno("rename " + staging);
    return {};
  }();
  if (!stored) RemoveTree(staging);
  return stored;
}

UnpackedCache::Removed UnpackedCache::RemoveAll(bool dry_run) const {
  // Pulls store and remove entries while this runs: whatever is gone already is skipped.
  Removed removed;
  auto names = ListDirectory(dir_);
  if (!names) return removed;
  for (const std::string& name : *names) {
    const std::string entry = dir_ + "/" + name;
    const uint64_t bytes = AllocatedBytes(entry);
    if (name[0] != '.') ++removed.entries;  // dot names: being stored
    if (!dry_run) RemoveTree(entry);
    removed.bytes += bytes;
  }
  return removed;
}

}  // namespace banger::broker
