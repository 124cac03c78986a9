// Manifests and indexes, read from a registry's bytes: media types decided from the
// body's mediaType and checked against Content-Type, ambiguous documents refused
// (CVE-2021-41190), schema 1 refused by name, platform selection from an index, layer
// media types checked. The fetcher reads them to know what to download; the broker reads
// the very bytes the fetcher handed over, with this same code, to derive the plan itself
// (fetch_protocol.h DerivePlan). Every field is type-checked: nothing here throws.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/platform.h"
#include "base/result.h"

namespace banger::ipc {

namespace media {
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kDockerList = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json";
inline constexpr std::string_view kDockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
// What the Accept header lists, best first.
inline constexpr std::string_view kAccept =
    "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json";
}  // namespace media


struct Descriptor {
  std::string media_type;
  std::string digest;
  uint64_t size = 0;
  bool has_platform = false;
  Platform platform;
  bool attestation = false;  // buildkit's attestation manifests, never an image
};

// Indexes may nest (an index entry naming another index); deeper than this is refused.
inline constexpr size_t kMaxIndexDepth = 4;

enum class DocumentKind { kIndex, kManifest };

struct Document {
  DocumentKind kind = DocumentKind::kManifest;
  std::string media_type;
  std::vector<Descriptor> manifests;  // kIndex
  Descriptor config;                  // kManifest
  std::vector<Descriptor> layers;     // kManifest, oldest first
};

struct DocumentLimits {
  size_t max_bytes = 4 << 20;
  size_t max_layers = 128;
  size_t max_index_entries = 1024;
  int max_json_depth = 64;
};

// `where` names the document in errors ("manifest of 127.0.0.1:5000/app:1").
Result<Document> ParseDocument(std::string_view body, std::string_view content_type, const DocumentLimits& limits,
                               const std::string& where);

// The index entry for `want`; attestation entries are skipped; a missing platform is an
// error that lists the ones on offer.
Result<Descriptor> SelectPlatform(const Document& index, const Platform& want, const std::string& where);

bool IsIndexMediaType(std::string_view media_type);

}  // namespace banger::ipc
