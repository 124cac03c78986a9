#include "ipc/fetch_protocol.h"

#include "base/sha256.h"

namespace banger::ipc {

Result<ResolvedPlan> DecodeResolvedPlan(std::string_view body, uint64_t max_layers) {
  BANGER_ASSIGN_OR_RETURN(ResolvedPlan plan, Decode<ResolvedPlan>(body));
  if (plan.layers.size() > max_layers) {
    return Error{ErrorCode::kMalformed, "malformed resolved plan: 'layers' has more than " + std::to_string(max_layers) +
                                            " items"};
  }
  return plan;
}

namespace {

BlobRef BlobOf(const Descriptor& d) { return BlobRef{d.digest, d.size, d.media_type}; }

// The index entry `index` chooses for `want` must name `next` exactly.
Result<Descriptor> Follow(std::string_view index, std::string_view next, const Platform& want,
                          const DocumentLimits& limits, const std::string& where) {
  BANGER_ASSIGN_OR_RETURN(Document doc, ParseDocument(index, "", limits, where));
  if (doc.kind != DocumentKind::kIndex) return Error{ErrorCode::kMalformed, where + ": an index on the way is not one"};
  BANGER_ASSIGN_OR_RETURN(Descriptor chosen, SelectPlatform(doc, want, where));
  const std::string next_digest = Sha256DigestOf(next);
  if (chosen.digest != next_digest || chosen.size != next.size()) {
    return Error{ErrorCode::kMalformed, where + ": the index entry names " + chosen.digest + " (" +
                                            std::to_string(chosen.size) + " bytes), but the next document is " +
                                            next_digest + " (" + std::to_string(next.size()) + " bytes)"};
  }
  return chosen;
}

}  // namespace

Result<ResolvedPlan> DerivePlan(const std::vector<std::string_view>& indexes, std::string_view manifest,
                                std::string_view manifest_media_type, const Platform& want,
                                const DocumentLimits& limits, const std::string& where) {
  if (indexes.size() > kMaxIndexDepth) {
    return Error{ErrorCode::kMalformed, where + ": indexes nested deeper than " + std::to_string(kMaxIndexDepth)};
  }
  ResolvedPlan plan;
  for (size_t i = 0; i < indexes.size(); ++i) {
    std::string_view next = i + 1 < indexes.size() ? indexes[i + 1] : manifest;
    BANGER_ASSIGN_OR_RETURN(Descriptor chosen, Follow(indexes[i], next, want, limits, where));
    if (chosen.has_platform) plan.platform = chosen.platform.String();
    plan.indexes.push_back({Sha256DigestOf(indexes[i]), indexes[i].size()});
  }
  BANGER_ASSIGN_OR_RETURN(Document doc, ParseDocument(manifest, manifest_media_type, limits, where));
  if (doc.kind != DocumentKind::kManifest) {
    return Error{ErrorCode::kMalformed, where + ": an index where the image manifest should be"};
  }
  plan.manifest_digest = Sha256DigestOf(manifest);
  plan.manifest_media_type = doc.media_type;
  plan.config = BlobOf(doc.config);
  for (const Descriptor& l : doc.layers) plan.layers.push_back(BlobOf(l));
  return plan;
}

}  // namespace banger::ipc
