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

// The stored summary: {"boot_id": "...", "done": <unpack-done body>}.
std::optional<ipc::UnpackSummary> ReadSummary(const std::string& path, const std::string& boot) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return std::nullopt;
  auto text = ReadWholeFd(fd.get(), kMaxSummaryBytes, path);
  if (!text) return std::nullopt;
  auto parsed = ParseJsonBounded(*text, 8);
  if (!parsed || !parsed->is_object()) return std::nullopt;
  const auto id = parsed->find("boot_id");
  const auto done = parsed->find("done");
  if (id == parsed->end() || !id->is_string() || *id != boot || done == parsed->end()) return std::nullopt;
  auto summary = ipc::Decode<ipc::UnpackSummary>(done->dump());
  if (!summary) return std::nullopt;
  return std::move(*summary);
}

}  // namespace

std::string UnpackedKey::Hash() const {
  std::string text = "banger unpacked v2\n" + banger_version + "\n" + unpacker_identity + "\n" + config_digest + "\n";
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
  found.spool.reset(::open((entry + "/spool").c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  found.tree.reset(::open((entry + "/tree").c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!found.spool || !found.tree) return std::nullopt;
  found.summary = std::move(*summary);
  return found;
}

Result<UniqueFd> UnpackedCache::CreateFile() const {
  BANGER_TRY(MakeDirs(dir_, 0700));
  UniqueFd fd(::open(dir_.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!fd) return Error::FromErrno("creating a file in " + dir_);
  return fd;
}

Result<void> UnpackedCache::Store(const std::string& key, int spool_fd, int tree_fd,
                                  const ipc::UnpackSummary& summary) const {
  // Without a boot id an entry could not be told from one a crash cut short.
  const std::string boot = BootId();
  if (boot.empty()) return Error{ErrorCode::kNotFound, "no boot id to mark the unpacked cache entry with"};
  unsigned char random[8];
  if (::getrandom(random, sizeof random, 0) != sizeof random) return Error::FromErrno("getrandom");
  const std::string staging = dir_ + "/." + key + "." + HexEncode(random, sizeof random);
  if (::mkdir(staging.c_str(), 0700) != 0) return Error::FromErrno("mkdir " + staging);
  auto stored = [&]() -> Result<void> {
    BANGER_TRY(LinkFd(spool_fd, staging + "/spool"));
    BANGER_TRY(LinkFd(tree_fd, staging + "/tree"));
    BANGER_ASSIGN_OR_RETURN(nlohmann::json done, ParseJsonBounded(ipc::Encode(summary)));
    const nlohmann::json record = {{"boot_id", boot}, {"done", std::move(done)}};
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
