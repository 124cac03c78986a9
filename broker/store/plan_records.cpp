#include "broker/store/plan_records.h"

#include <fcntl.h>
#include <unistd.h>

#include "base/digest.h"
#include "base/fd.h"
#include "broker/store/files.h"

namespace banger::broker {
namespace {

constexpr uint64_t kMaxRecordBytes = 4 << 20;

}  // namespace

std::string PlanRecords::PathFor(const std::string& manifest_digest, const std::string& platform) const {
  std::string key = std::string(DigestHex(manifest_digest)) + "-" + (platform.empty() ? "default" : platform);
  for (char& c : key) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!plain) c = '_';
  }
  return layout_.PlanPath(key);
}

Result<void> PlanRecords::Save(const std::string& manifest_digest, const std::string& platform,
                               const ipc::ResolvedPlan& plan) const {
  BANGER_TRY(CheckDigest(manifest_digest, "a plan record"));
  BANGER_TRY(MakeDirs(layout_.plans_dir(), 0755));
  const std::string text = ipc::Encode(plan);
  return ReplaceFileAtomically(PathFor(manifest_digest, platform), {.mode = 0644},
                               [&](int fd) { return WriteAll(fd, text, "writing a plan record"); });
}

std::optional<ipc::ResolvedPlan> PlanRecords::Load(const std::string& manifest_digest, const std::string& platform,
                                                   uint64_t max_layers) const {
  if (!IsValidDigest(manifest_digest)) return std::nullopt;
  UniqueFd fd(::open(PathFor(manifest_digest, platform).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return std::nullopt;
  auto text = ReadWholeFd(fd.get(), kMaxRecordBytes, "a plan record");
  if (!text) return std::nullopt;
  // The record's own manifest is the platform's, which differs from the reference's digest
  // when that names an index: the key (the reference's digest) is what ties them.
  auto plan = ipc::DecodeResolvedPlan(*text, max_layers);
  if (!plan) return std::nullopt;
  return std::move(*plan);
}

}  // namespace banger::broker
