#include "broker/pull/signatures.h"

#include <algorithm>
#include <map>

#include "base/base64.h"
#include "base/digest.h"
#include "base/fd.h"
#include "base/json.h"
#include "base/sha256.h"
#include "base/text.h"
#include "broker/pull/blob_downloads.h"
#include "broker/pull/sink_request.h"
#include "broker/trust/dsse.h"
#include "broker/trust/simple_signing.h"
#include "ipc/fetch_protocol.h"

namespace banger::broker {
namespace {

constexpr int kDocumentTimeoutMs = 5 * 60 * 1000;

constexpr size_t kMaxReferrerPages = 16;
constexpr size_t kMaxReferrersListed = 1000;

const auto& At = FieldOrNull;  // never operator[] on a document a peer wrote

struct Document {
  std::string body;
  std::string next;  // a referrers page's next page
};

// The document `request` names in the resolved repository, as the fetcher handed it over
// (read once into memory: the fetcher keeps its fd); nothing for a 404. A digest names
// exactly its bytes: the broker hashes them.
Result<std::optional<Document>> FetchDocument(security::SandboxedChild& fetcher, const ipc::DocumentRequest& asked,
                                              uint64_t max_bytes) {
  BANGER_ASSIGN_OR_RETURN(SinkAnswer answer, AskWithSink(fetcher, ipc::MessageType::kFetchDocument, ipc::Encode(asked),
                                                         ipc::MessageType::kDocumentFetched, kDocumentTimeoutMs,
                                                         "banger-document"));
  auto fetched = ipc::Decode<ipc::DocumentFetched>(answer.answer.body);
  if (!fetched) return fetcher.BrokeProtocol(fetched.error().message);
  if (!fetched->found) return std::optional<Document>();
  if (fetched->size > max_bytes) return fetcher.BrokeProtocol("it fetched a document larger than any it may");
  auto text = ReadWholeFd(answer.sink.get(), max_bytes, "the document " + asked.selector);
  if (!text || text->size() != fetched->size) return fetcher.BrokeProtocol("the document it wrote is not the size it said");
  if (!asked.referrers && IsValidDigest(asked.selector) && Sha256DigestOf(*text) != asked.selector) {
    return fetcher.BrokeProtocol("it handed over other bytes than " + asked.selector);
  }
  if (!asked.referrers && !fetched->next.empty()) return fetcher.BrokeProtocol("it named a next page of a manifest");
  return std::optional<Document>(Document{std::move(*text), std::move(fetched->next)});
}

// Brings the layers' blobs into the cache (verified as any blob is) unless they are
// there and this fetch may be served them; their bytes, by digest.
Result<std::map<std::string, std::string>> Payloads(security::SandboxedChild& fetcher, const BlobCache& cache,
                                                    const FetchOptions& options, const std::vector<SignatureLayer>& layers,
                                                    CacheLease& lease) {
  std::vector<std::string> digests;
  for (const SignatureLayer& layer : layers) digests.push_back(layer.digest);
  BANGER_TRY(lease.Hold(digests));
  std::vector<FetchedBlob> blobs;
  std::map<std::string, bool> seen;
  for (const SignatureLayer& layer : layers) {
    if (seen[layer.digest]) continue;
    seen[layer.digest] = true;
    const bool servable = !options.tenant || cache.Shared(layer.digest);
    if (!(servable && cache.Contains(layer.digest, layer.size))) {
      blobs.push_back({layer.digest, layer.size, layer.media_type, false});
    }
  }
  FetchOptions quiet = options;  // signatures are not in the progress table
  quiet.on_event = nullptr;
  quiet.on_download_started = nullptr;
  std::vector<FetchedBlob*> wanted;
  for (FetchedBlob& blob : blobs) wanted.push_back(&blob);
  BlobDownloads downloads(cache, fetcher, quiet);
  BANGER_TRY(downloads.Run(wanted));
  std::map<std::string, std::string> payloads;
  for (const SignatureLayer& layer : layers) {
    std::optional<UniqueFd> blob = cache.OpenBlob(layer.digest, layer.size);
    if (!blob) return Error{ErrorCode::kNotFound, "signature " + layer.digest + " left the cache"};
    BANGER_ASSIGN_OR_RETURN(payloads[layer.digest], ReadWholeFd(blob->get(), layer.size, "signature " + layer.digest));
  }
  return payloads;
}

Error Malformed(const std::string& what) { return Error{ErrorCode::kMalformed, what}; }

// The referrers of `digest` whose artifactType is a sigstore bundle's: the registry's
// referrers API page by page, or where it has none (404) the fallback tag sha256-<hex>.
// The broker filters itself, whatever the registry did.
Result<std::vector<std::string>> BundleReferrers(security::SandboxedChild& fetcher, const FetchOptions& options,
                                                 const std::string& digest) {
  ipc::DocumentRequest asked{.selector = digest, .referrers = true, .artifact_type = std::string(kBundleMediaType)};
  BANGER_ASSIGN_OR_RETURN(std::optional<Document> page, FetchDocument(fetcher, asked, options.max_document_bytes));
  const bool api = page.has_value();
  const std::string fallback = "sha256-" + digest.substr(kSha256Prefix.size());
  if (!api) {
    BANGER_ASSIGN_OR_RETURN(page, FetchDocument(fetcher, {.selector = fallback}, options.max_document_bytes));
  }
  const std::string where = api ? "the referrers of " + digest : "the referrers tag " + fallback;
  std::vector<std::string> bundles;
  size_t listed = 0;
  for (size_t pages = 1; page; ++pages) {
    auto index = ParseJsonBounded(page->body);
    if (!index || !At(*index, "manifests").is_array()) return Malformed(where + " is not an image index");
    for (const nlohmann::json& entry : At(*index, "manifests")) {
      if (++listed > kMaxReferrersListed) {
        return Error{ErrorCode::kOversized, where + " lists more than " + std::to_string(kMaxReferrersListed) + " manifests"};
      }
      if (At(entry, "artifactType") != kBundleMediaType) continue;
      const nlohmann::json& referrer = At(entry, "digest");
      if (!referrer.is_string() || !IsValidDigest(referrer.get<std::string>())) return Malformed(where + " lists a bundle without a digest");
      bundles.push_back(referrer.get<std::string>());
    }
    if (!api || page->next.empty()) break;
    if (pages == kMaxReferrerPages) {
      return Error{ErrorCode::kOversized, where + " runs to more than " + std::to_string(kMaxReferrerPages) + " pages"};
    }
    asked.page = page->next;
    BANGER_ASSIGN_OR_RETURN(page, FetchDocument(fetcher, asked, options.max_document_bytes));
    if (!page) return Malformed(where + ": its next page " + Printable(asked.page, 200) + " is not there");
  }
  if (bundles.size() > kMaxSignatures) {
    return Error{ErrorCode::kOversized, where + " lists more than " + std::to_string(kMaxSignatures) +
                                            " signatures, the most banger reads"};
  }
  return bundles;
}

// The bundle layers of referrer `manifest_digest`, a manifest whose subject is `digest`.
// A signature layer's digest and size, the size within `bound` before a byte of it moves
// (`what`: "layer" or "bundle"; `bounded`: what the bound is for, in the message).
Result<SignatureLayer> BoundedLayer(const nlohmann::json& layer, const std::string& where, const char* what,
                                    uint64_t bound, const char* bounded) {
  const nlohmann::json &digest = At(layer, "digest"), &size = At(layer, "size");
  if (!digest.is_string() || !IsValidDigest(digest.get<std::string>())) {
    return Malformed(where + ": a " + what + " without a sha256 digest");
  }
  if (!size.is_number_unsigned()) return Malformed(where + ": " + what + " " + digest.get<std::string>() + " without a size");
  if (size.get<uint64_t>() > bound) {
    return Error{ErrorCode::kOversized, where + ": " + what + " " + digest.get<std::string>() + " is " +
                                            std::to_string(size.get<uint64_t>()) + " bytes, more than " + bounded +
                                            " may be (" + std::to_string(bound) + ")"};
  }
  SignatureLayer out;
  out.digest = digest.get<std::string>();
  out.size = size.get<uint64_t>();
  return out;
}

Result<std::vector<SignatureLayer>> BundleLayersOf(security::SandboxedChild& fetcher, const FetchOptions& options,
                                                   const std::string& manifest_digest, const std::string& digest) {
  const std::string where = "referrer " + manifest_digest;
  BANGER_ASSIGN_OR_RETURN(std::optional<Document> manifest,
                          FetchDocument(fetcher, {.selector = manifest_digest}, options.max_document_bytes));
  if (!manifest) return Malformed("the referrers of " + digest + " list " + manifest_digest + ", which the registry does not have");
  auto parsed = ParseJsonBounded(manifest->body);
  if (!parsed || !At(*parsed, "layers").is_array()) return Malformed(where + " is not an image manifest");
  std::vector<SignatureLayer> layers;
  for (const nlohmann::json& layer : At(*parsed, "layers")) {
    if (At(layer, "mediaType") != kBundleMediaType) continue;
    BANGER_ASSIGN_OR_RETURN(SignatureLayer bundle, BoundedLayer(layer, where, "bundle", kMaxBundleBytes, "a bundle"));
    bundle.media_type = std::string(kBundleMediaType);
    layers.push_back(std::move(bundle));
  }
  if (layers.empty()) return Malformed(where + " is not a signature: it holds no sigstore bundle");
  if (At(At(*parsed, "subject"), "digest") != digest) {
    return Malformed(where + " is listed among the referrers of " + digest + " but names another subject");
  }
  return layers;
}

// The signatures in the sigstore bundles that refer to `digest`, one candidate per
// envelope signature.
Result<void> AddBundleSignatures(security::SandboxedChild& fetcher, const BlobCache& cache, const FetchOptions& options,
                                 const std::string& digest, CacheLease& lease, std::vector<SignatureCandidate>& candidates) {
  BANGER_ASSIGN_OR_RETURN(std::vector<std::string> referrers, BundleReferrers(fetcher, options, digest));
  for (const std::string& referrer : referrers) {
    BANGER_ASSIGN_OR_RETURN(std::vector<SignatureLayer> layers, BundleLayersOf(fetcher, options, referrer, digest));
    if (candidates.size() + layers.size() > kMaxSignatures) {
      return Error{ErrorCode::kOversized, "the image has more than " + std::to_string(kMaxSignatures) +
                                              " signatures, the most banger reads"};
    }
    BANGER_ASSIGN_OR_RETURN(auto bundles, Payloads(fetcher, cache, options, layers, lease));
    for (const SignatureLayer& layer : layers) {
      auto envelope = ParseBundleEnvelope(bundles[layer.digest]);
      if (!envelope) return Malformed("referrer " + referrer + ": " + envelope.error().message);
      for (const std::string& signature : envelope->signatures) {
        candidates.push_back({.format = SignatureCandidate::Format::kDsse,
                              .where = "referrer " + referrer + " (bundle " + layer.digest + ")",
                              .payload = envelope->payload,
                              .signature = signature,
                              .payload_type = envelope->payload_type});
      }
    }
  }
  return {};
}

}  // namespace

// The simple-signing layers of a signature manifest, each bounded before a byte of it
// is fetched. Other layers are not signatures and are passed over.
Result<std::vector<SignatureLayer>> SignatureLayersOf(const std::string& text, const std::string& where) {
  auto malformed = [&](const std::string& why) { return Error{ErrorCode::kMalformed, "signature manifest " + where + ": " + why}; };
  auto parsed = ParseJsonBounded(text);
  if (!parsed) return malformed(parsed.error().message);
  if (!At(*parsed, "layers").is_array()) return malformed("no list of layers");
  std::vector<SignatureLayer> layers;
  for (const nlohmann::json& layer : At(*parsed, "layers")) {
    if (At(layer, "mediaType") != kSimpleSigningMediaType) continue;
    if (layers.size() == kMaxSignatures) {
      return Error{ErrorCode::kOversized, "signature manifest " + where + " holds more than " +
                                              std::to_string(kMaxSignatures) + " signatures, the most banger reads"};
    }
    BANGER_ASSIGN_OR_RETURN(SignatureLayer out, BoundedLayer(layer, "signature manifest " + where, "layer",
                                                             kMaxSimpleSigningBytes, "a signature's payload"));
    const nlohmann::json& signature = At(At(layer, "annotations"), kCosignSignatureAnnotation);
    if (signature.is_string() && signature.get<std::string>().size() <= kMaxSignatureTextBytes) {
      out.signature = signature.get<std::string>();
    }
    layers.push_back(std::move(out));
  }
  return layers;
}

std::string SignatureTag(const std::string& digest) {
  return "sha256-" + digest.substr(kSha256Prefix.size()) + ".sig";
}

Result<std::vector<SignatureCandidate>> FetchSignatures(security::SandboxedChild& fetcher, const BlobCache& cache,
                                                        const FetchOptions& options, const std::vector<std::string>& digests,
                                                        CacheLease& lease) {
  std::vector<SignatureCandidate> candidates;
  for (const std::string& digest : digests) {
    const std::string tag = SignatureTag(digest);
    BANGER_ASSIGN_OR_RETURN(std::optional<Document> manifest,
                            FetchDocument(fetcher, {.selector = tag}, options.max_document_bytes));
    if (!manifest) continue;
    BANGER_ASSIGN_OR_RETURN(std::vector<SignatureLayer> layers, SignatureLayersOf(manifest->body, tag));
    if (candidates.size() + layers.size() > kMaxSignatures) {
      return Error{ErrorCode::kOversized, "the image has more than " + std::to_string(kMaxSignatures) +
                                              " signatures, the most banger reads"};
    }
    BANGER_ASSIGN_OR_RETURN(auto payloads, Payloads(fetcher, cache, options, layers, lease));
    for (size_t i = 0; i < layers.size(); ++i) {
      auto signature = DecodeBase64(layers[i].signature);
      candidates.push_back({.format = SignatureCandidate::Format::kSimpleSigning,
                            .where = tag + " layer " + std::to_string(i + 1) + " (" + layers[i].digest + ")",
                            .payload = payloads[layers[i].digest],
                            .signature = signature ? *signature : std::string()});
    }
  }
  // Then the sigstore bundles that name each digest as their subject (OCI 1.1 referrers).
  for (const std::string& digest : digests) {
    BANGER_TRY(AddBundleSignatures(fetcher, cache, options, digest, lease, candidates));
  }
  return candidates;
}

Result<std::optional<TrustVerdict>> JudgeTrust(security::SandboxedChild* fetcher, const BlobCache& cache,
                                               const FetchOptions& options, const Reference& named,
                                               const FetchedImage& image) {
  if (options.trust == nullptr) return std::optional<TrustVerdict>();
  std::vector<std::string> digests = {image.manifest_digest};
  if (!image.resolved_digest.empty() && image.resolved_digest != image.manifest_digest) {
    digests.push_back(image.resolved_digest);
  }
  std::vector<SignatureCandidate> signatures;
  if (fetcher != nullptr && image.lease && ScopeNeedsSignatures(options.trust->ScopeFor(named))) {
    auto fetched = FetchSignatures(*fetcher, cache, options, digests, *image.lease);
    // Signature documents past their bounds, or not what they claim, refuse the image;
    // a registry that cannot be reached is that error, not a verdict.
    if (!fetched && (fetched.error().code == ErrorCode::kOversized || fetched.error().code == ErrorCode::kMalformed)) {
      return std::optional<TrustVerdict>(EvaluateTrust(*options.trust, named, digests, {}).Refuse(fetched.error().message));
    }
    if (!fetched) return fetched.error();
    signatures = std::move(*fetched);
  }
  return std::optional<TrustVerdict>(EvaluateTrust(*options.trust, named, digests, signatures));
}

Error RefusalOf(const Reference& named, const TrustVerdict& verdict) {
  return Error{ErrorCode::kInvalidArgument, "the signature policy refuses " + named.String() + ": " + verdict.reason +
                                                " (" + verdict.policy + ", " + verdict.scope + ")"};
}

Result<std::optional<TrustVerdict>> CheckTrust(security::SandboxedChild* fetcher, const BlobCache& cache,
                                               const FetchOptions& options, const Reference& named,
                                               const FetchedImage& image) {
  BANGER_ASSIGN_OR_RETURN(std::optional<TrustVerdict> verdict, JudgeTrust(fetcher, cache, options, named, image));
  if (verdict && !verdict->accepted) return RefusalOf(named, *verdict);
  return verdict;
}

}  // namespace banger::broker
