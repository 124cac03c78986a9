#include "broker/pull/signatures.h"

#include <sys/mman.h>

#include <algorithm>
#include <map>

#include "base/base64.h"
#include "base/digest.h"
#include "base/fd.h"
#include "base/json.h"
#include "base/text.h"
#include "broker/pull/blob_downloads.h"
#include "broker/trust/simple_signing.h"
#include "ipc/fetch_protocol.h"

namespace banger::broker {
namespace {

constexpr int kDocumentTimeoutMs = 5 * 60 * 1000;

struct SignatureLayer {
  std::string digest;
  uint64_t size = 0;
  std::string signature;  // base64, as the annotation holds it
};

// The document `selector` names in the resolved repository, as the fetcher handed it
// over (read once into memory: the fetcher keeps its fd); nothing for a 404.
Result<std::optional<std::string>> FetchDocument(security::SandboxedChild& fetcher, const std::string& selector,
                                                 uint64_t max_bytes) {
  UniqueFd sink(::memfd_create("banger-document", MFD_CLOEXEC));
  if (!sink) return Error::FromErrno("memfd_create");
  ipc::Message request = ipc::Message::Make(ipc::MessageType::kFetchDocument, ipc::Encode(ipc::DocumentRequest{selector, false}));
  BANGER_ASSIGN_OR_RETURN(UniqueFd sink_copy, DupCloexec(sink.get()));
  request.fds.push_back(std::move(sink_copy));
  BANGER_TRY(fetcher.Send(request));
  request.fds.clear();
  BANGER_ASSIGN_OR_RETURN(ipc::Message answer, fetcher.ReceiveExpecting({ipc::MessageType::kDocumentFetched}, kDocumentTimeoutMs));
  auto fetched = ipc::Decode<ipc::DocumentFetched>(answer.body);
  if (!fetched) return fetcher.BrokeProtocol(fetched.error().message);
  if (!fetched->found) return std::optional<std::string>();
  if (fetched->size > max_bytes) return fetcher.BrokeProtocol("it fetched a document larger than any it may");
  auto text = ReadWholeFd(sink.get(), max_bytes, "the document " + selector);
  if (!text || text->size() != fetched->size) return fetcher.BrokeProtocol("the document it wrote is not the size it said");
  return std::optional<std::string>(std::move(*text));
}

// The simple-signing layers of a signature manifest, each bounded before a byte of it
// is fetched. Other layers are not signatures and are passed over.
Result<std::vector<SignatureLayer>> SignatureLayersOf(const std::string& text, const std::string& where) {
  auto malformed = [&](const std::string& why) { return Error{ErrorCode::kMalformed, "signature manifest " + where + ": " + why}; };
  auto parsed = ParseJsonBounded(text);
  if (!parsed) return malformed(parsed.error().message);
  if (!parsed->is_object() || !(*parsed)["layers"].is_array()) return malformed("no list of layers");
  std::vector<SignatureLayer> layers;
  for (const nlohmann::json& layer : (*parsed)["layers"]) {
    if (!layer.is_object() || layer.value("mediaType", nlohmann::json()) != kSimpleSigningMediaType) continue;
    if (layers.size() == kMaxSignatures) {
      return Error{ErrorCode::kOversized, "signature manifest " + where + " holds more than " +
                                              std::to_string(kMaxSignatures) + " signatures, the most banger reads"};
    }
    SignatureLayer out;
    const nlohmann::json& digest = layer["digest"];
    const nlohmann::json& size = layer["size"];
    if (!digest.is_string() || !IsValidDigest(digest.get<std::string>())) return malformed("a layer without a sha256 digest");
    if (!size.is_number_unsigned()) return malformed("layer " + digest.get<std::string>() + " without a size");
    out.digest = digest.get<std::string>();
    out.size = size.get<uint64_t>();
    if (out.size > kMaxSimpleSigningBytes) {
      return Error{ErrorCode::kOversized, "signature manifest " + where + ": layer " + out.digest + " is " +
                                              std::to_string(out.size) + " bytes, more than a signature's payload may be (" +
                                              std::to_string(kMaxSimpleSigningBytes) + ")"};
    }
    const nlohmann::json& annotations = layer.value("annotations", nlohmann::json::object());
    const nlohmann::json signature =
        annotations.is_object() ? annotations.value(std::string(kCosignSignatureAnnotation), nlohmann::json()) : nlohmann::json();
    if (signature.is_string() && signature.get<std::string>().size() <= kMaxSignatureTextBytes) {
      out.signature = signature.get<std::string>();
    }
    layers.push_back(std::move(out));
  }
  return layers;
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
      blobs.push_back({layer.digest, layer.size, std::string(kSimpleSigningMediaType), false});
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

}  // namespace

std::string SignatureTag(const std::string& digest) {
  return "sha256-" + digest.substr(kSha256Prefix.size()) + ".sig";
}

Result<std::vector<SignatureCandidate>> FetchSignatures(security::SandboxedChild& fetcher, const BlobCache& cache,
                                                        const FetchOptions& options, const std::vector<std::string>& digests,
                                                        CacheLease& lease) {
  std::vector<SignatureCandidate> candidates;
  for (const std::string& digest : digests) {
    const std::string tag = SignatureTag(digest);
    BANGER_ASSIGN_OR_RETURN(std::optional<std::string> manifest, FetchDocument(fetcher, tag, options.max_document_bytes));
    if (!manifest) continue;
    BANGER_ASSIGN_OR_RETURN(std::vector<SignatureLayer> layers, SignatureLayersOf(*manifest, tag));
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
      TrustVerdict refused = EvaluateTrust(*options.trust, named, digests, {});
      refused.accepted = false;
      refused.reason = fetched.error().message;
      refused.key_fingerprint.clear();
      refused.key_source.clear();
      refused.signed_identity.clear();
      refused.signed_digest.clear();
      return std::optional<TrustVerdict>(std::move(refused));
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
