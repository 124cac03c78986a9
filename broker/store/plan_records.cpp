#include "broker/store/plan_records.h"

#include <fcntl.h>
#include <unistd.h>

#include "base/digest.h"
#include "base/fd.h"
#include "base/sha256.h"
#include "broker/store/files.h"

namespace banger::broker {
namespace {

constexpr uint64_t kMaxPlanRecordBytes = 4 << 20;

}  // namespace

// One file name per (registry, repository, digest, platform): the hex sha256 of the four,
// each ended by a byte none of them may hold.
std::string PlanRecords::PathFor(const Key& key) const {
  std::string tuple;
  for (const std::string* part : {&key.registry, &key.repository, &key.digest, &key.platform}) tuple += *part + '\n';
  return layout_.PlanPath(std::string(DigestHex(Sha256DigestOf(tuple))));
}

Result<void> PlanRecords::Save(const Key& key, const ipc::ResolvedPlan& plan) const {
  BANGER_TRY(CheckDigest(key.digest, "a plan record"));
  BANGER_TRY(MakeDirs(layout_.plans_dir(), 0700));
  const std::string text = ipc::Encode(plan);
  return ReplaceFileAtomically(PathFor(key), {.mode = 0600},
                               [&](int fd) { return WriteAll(fd, text, "writing a plan record"); });
}

std::optional<ipc::ResolvedPlan> PlanRecords::Load(const Key& key, uint64_t max_layers) const {
  if (!IsValidDigest(key.digest)) return std::nullopt;
  UniqueFd fd(::open(PathFor(key).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return std::nullopt;
  auto text = ReadWholeFd(fd.get(), kMaxPlanRecordBytes, "a plan record");
  if (!text) return std::nullopt;
  // The record's own manifest is the platform's, which differs from the reference's digest
  // when that names an index: the key (the reference's digest) is what ties them.
  auto plan = ipc::DecodeResolvedPlan(*text, max_layers);
  if (!plan) return std::nullopt;
  return std::move(*plan);
}

}  // namespace banger::broker
