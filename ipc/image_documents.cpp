#include "ipc/image_documents.h"

#include <nlohmann/json.hpp>

#include "base/text.h"
#include "base/digest.h"
#include "base/json.h"
#include "ipc/channel.h"

namespace banger::ipc {
namespace {

using nlohmann::json;

const std::string_view kLayerTypes[] = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
};
const std::string_view kForeignLayerTypes[] = {
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
};

template <class List>
bool Contains(const List& list, std::string_view value) {
  for (std::string_view item : list) {
    if (item == value) return true;
  }
  return false;
}

Error Malformed(const std::string& where, const std::string& what) {
  return Error{ErrorCode::kMalformed, where + ": " + what};
}

std::string StripParameters(std::string_view content_type) {
  std::string_view v = content_type.substr(0, content_type.find(';'));
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  return AsciiLower(v);
}

bool IsManifestMediaType(std::string_view t) { return t == media::kOciManifest || t == media::kDockerManifest; }

// A string member of `j`, or "" when it is absent or not a string.
std::string OptionalText(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Result<Descriptor> ParseDescriptor(const json& j, const std::string& where, const std::string& what) {
  if (!j.is_object()) return Malformed(where, what + " is not an object");
  Descriptor d;
  auto text = [&](const char* key) -> Result<std::string> {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string()) return Malformed(where, what + " has no \"" + key + "\" string");
    return it->get<std::string>();
  };
  BANGER_ASSIGN_OR_RETURN(d.media_type, text("mediaType"));
  BANGER_ASSIGN_OR_RETURN(d.digest, text("digest"));
  BANGER_TRY(CheckDigest(d.digest, where + " (" + what + ")"));
  auto size = j.find("size");
  if (size == j.end() || !size->is_number_unsigned()) return Malformed(where, what + " has no non-negative \"size\"");
  d.size = size->get<uint64_t>();
  if (auto p = j.find("platform"); p != j.end() && p->is_object()) {
    d.has_platform = true;
    d.platform.os = OptionalText(*p, "os");
    d.platform.architecture = OptionalText(*p, "architecture");
    d.platform.variant = OptionalText(*p, "variant");
  }
  if (auto a = j.find("annotations"); a != j.end() && a->is_object()) {
    d.attestation = OptionalText(*a, "vnd.docker.reference.type") == "attestation-manifest";
  }
  d.attestation = d.attestation || (d.has_platform && d.platform.os == "unknown");
  return d;
}

}  // namespace

bool IsIndexMediaType(std::string_view media_type) {
  return media_type == media::kOciIndex || media_type == media::kDockerList;
}

namespace {

Result<Document> ParseIndex(const json& doc, const DocumentLimits& limits, const std::string& where, Document out) {
  if (doc.contains("layers") || doc.contains("config")) {
    return Malformed(where, "an index must not have \"layers\" or \"config\"");
  }
  if (!doc.contains("manifests") || !doc["manifests"].is_array()) {
    return Malformed(where, "index has no \"manifests\" array");
  }
  out.kind = DocumentKind::kIndex;
  if (doc["manifests"].size() > limits.max_index_entries) {
    return Error{ErrorCode::kOversized, where + ": more than " + std::to_string(limits.max_index_entries) + " entries"};
  }
  size_t n = 0;
  for (const json& entry : doc["manifests"]) {
    BANGER_ASSIGN_OR_RETURN(Descriptor d, ParseDescriptor(entry, where, "manifests[" + std::to_string(n++) + "]"));
    out.manifests.push_back(std::move(d));
  }
  return out;
}

Result<Document> ParseManifest(const json& doc, const DocumentLimits& limits, const std::string& where, Document out) {
  if (doc.contains("manifests")) return Malformed(where, "an image manifest must not have \"manifests\"");
  out.kind = DocumentKind::kManifest;
  if (!doc.contains("config")) return Malformed(where, "manifest has no \"config\"");
  BANGER_ASSIGN_OR_RETURN(out.config, ParseDescriptor(doc["config"], where, "config"));
  if (out.config.media_type != media::kOciConfig && out.config.media_type != media::kDockerConfig) {
    return Malformed(where, "config has unsupported media type \"" + out.config.media_type.substr(0, 100) +
                                "\" (not a container image)");
  }
  if (!doc.contains("layers") || !doc["layers"].is_array()) return Malformed(where, "manifest has no \"layers\" array");
  if (doc["layers"].size() > limits.max_layers) {
    return Error{ErrorCode::kOversized, where + ": " + std::to_string(doc["layers"].size()) +
                                            " layers exceeds the limit of " + std::to_string(limits.max_layers)};
  }
  size_t n = 0;
  for (const json& entry : doc["layers"]) {
    BANGER_ASSIGN_OR_RETURN(Descriptor d, ParseDescriptor(entry, where, "layers[" + std::to_string(n++) + "]"));
    if (Contains(kForeignLayerTypes, d.media_type)) {
      return Error{ErrorCode::kInvalidArgument, where + ": layer " + d.digest +
                                                    " is a foreign (non-distributable) layer; banger fetches only "
                                                    "from the registry"};
    }
    if (!Contains(kLayerTypes, d.media_type)) {
      return Malformed(where, "layer " + d.digest + " has unsupported media type \"" + d.media_type.substr(0, 100) + "\"");
    }
    out.layers.push_back(std::move(d));
  }
  return out;
}

}  // namespace

Result<Document> ParseDocument(std::string_view body, std::string_view content_type, const DocumentLimits& limits,
                               const std::string& where) {
  if (body.size() > limits.max_bytes) {
    return Error{ErrorCode::kOversized, where + ": " + std::to_string(body.size()) + " bytes exceeds the limit of " +
                                            std::to_string(limits.max_bytes)};
  }
  auto parsed = ParseJsonBounded(body, limits.max_json_depth);
  if (!parsed) return parsed.error().Wrap(where);
  const json& doc = *parsed;
  if (!doc.is_object()) return Malformed(where, "not a JSON object");

  const std::string header_type = StripParameters(content_type);
  std::string body_type = OptionalText(doc, "mediaType");
  if (header_type == media::kDockerSchema1 || header_type == media::kDockerSchema1Signed ||
      body_type == media::kDockerSchema1 || body_type == media::kDockerSchema1Signed ||
      (doc.contains("schemaVersion") && doc["schemaVersion"] == 1)) {
    return Error{ErrorCode::kMalformed,
                 where + ": Docker schema 1 manifests are not supported (unsigned, deprecated); push the image again "
                         "with a current client"};
  }
  if (!doc.contains("schemaVersion") || doc["schemaVersion"] != 2) return Malformed(where, "schemaVersion is not 2");

  const bool has_manifests = doc.contains("manifests");
  const bool has_image_parts = doc.contains("layers") || doc.contains("config");
  if (has_manifests && has_image_parts) {
    return Malformed(where, "document has both \"manifests\" and \"layers\"/\"config\" (ambiguous, CVE-2021-41190)");
  }
  const bool header_known = IsIndexMediaType(header_type) || IsManifestMediaType(header_type);
  if (!body_type.empty()) {
    if (!IsIndexMediaType(body_type) && !IsManifestMediaType(body_type)) {
      return Malformed(where, "unsupported media type \"" + body_type.substr(0, 100) + "\"");
    }
    if (header_known && header_type != body_type) {
      return Malformed(where, "Content-Type " + header_type + " disagrees with the document's mediaType " + body_type);
    }
  } else if (header_known) {
    body_type = header_type;  // OCI allows mediaType to be absent; Content-Type then decides
  } else {
    body_type = has_manifests ? std::string(media::kOciIndex) : std::string(media::kOciManifest);
  }

  Document out;
  out.media_type = body_type;
  return IsIndexMediaType(body_type) ? ParseIndex(doc, limits, where, std::move(out))
                                     : ParseManifest(doc, limits, where, std::move(out));
}

Result<Descriptor> SelectPlatform(const Document& index, const Platform& want, const std::string& where) {
  std::string offered;
  for (const Descriptor& d : index.manifests) {
    if (d.attestation || !d.has_platform) continue;
    if (!IsIndexMediaType(d.media_type) && !IsManifestMediaType(d.media_type)) continue;
    if (PlatformMatches(d.platform, want)) return d;
    offered += (offered.empty() ? "" : ", ") + d.platform.String();
  }
  // A nested index without a platform may still hold the wanted one: follow the first.
  for (const Descriptor& d : index.manifests) {
    if (!d.has_platform && IsIndexMediaType(d.media_type)) return d;
  }
  return Error{ErrorCode::kNotFound, where + " has no " + want.String() + " image; offered: " +
                                         (offered.empty() ? std::string("none") : offered)};
}

}  // namespace banger::ipc
