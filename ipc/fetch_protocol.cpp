#include "ipc/fetch_protocol.h"

#include <nlohmann/json.hpp>

#include "base/json.h"
#include "ipc/fields.h"

namespace banger::ipc {
namespace {

using nlohmann::json;

constexpr size_t kMaxReferenceBytes = 4096;
constexpr size_t kMaxCredentialBytes = 16 * 1024;
constexpr size_t kMaxUrlBytes = 8192;
constexpr uint64_t kMaxPlanLayers = 4096;

json BlobToJson(const BlobRef& b) { return {{"digest", b.digest}, {"size", b.size}, {"media_type", b.media_type}}; }

void ReadBlobObject(FieldReader& outer, const json& object, const std::string& what, BlobRef& out) {
  FieldReader fields(object, what);
  fields.Digest("digest", out.digest).Uint("size", out.size).String("media_type", out.media_type, kMaxMediaTypeBytes);
  outer.Absorb(fields);
}

void ReadBlob(FieldReader& outer, const char* key, BlobRef& out) {
  if (const json* object = outer.Object(key)) ReadBlobObject(outer, *object, key, out);
}

}  // namespace

std::string Encode(const ResolveRequest& r) {
  return DumpJson({{"reference", r.reference},
                   {"platform", r.platform},
                   {"allow_plain_http", r.allow_plain_http},
                   {"username", r.username},
                   {"password", r.password},
                   {"identity_token", r.identity_token},
                   {"ca_pem", r.ca_pem},
                   {"max_document_bytes", r.max_document_bytes},
                   {"max_layers", r.max_layers}});
}

Result<ResolveRequest> DecodeResolveRequest(std::string_view body) {
  BANGER_ASSIGN_OR_RETURN(json j, ParseObject(body, "resolve"));
  ResolveRequest r;
  FieldReader fields(j, "resolve");
  fields.String("reference", r.reference, kMaxReferenceBytes)
      .String("platform", r.platform, 100)
      .Bool("allow_plain_http", r.allow_plain_http)
      .String("username", r.username, kMaxCredentialBytes)
      .String("password", r.password, kMaxCredentialBytes)
      .String("identity_token", r.identity_token, kMaxCredentialBytes)
      .String("ca_pem", r.ca_pem, kMaxCaPemBytes)
      .Uint("max_document_bytes", r.max_document_bytes)
      .Uint("max_layers", r.max_layers, kMaxPlanLayers);
  return fields.Done(std::move(r));
}

std::string Encode(const ResolvedPlan& p) {
  json layers = json::array();
  for (const BlobRef& l : p.layers) layers.push_back(BlobToJson(l));
  return DumpJson({{"manifest_digest", p.manifest_digest},
                   {"manifest_media_type", p.manifest_media_type},
                   {"platform", p.platform},
                   {"config", BlobToJson(p.config)},
                   {"layers", layers}});
}

Result<ResolvedPlan> DecodeResolvedPlan(std::string_view body, uint64_t max_layers) {
  BANGER_ASSIGN_OR_RETURN(json j, ParseObject(body, "resolved plan"));
  ResolvedPlan p;
  FieldReader fields(j, "resolved plan");
  fields.Digest("manifest_digest", p.manifest_digest)
      .String("manifest_media_type", p.manifest_media_type, kMaxMediaTypeBytes)
      .String("platform", p.platform, 100);
  ReadBlob(fields, "config", p.config);
  if (const json* layers = fields.Array("layers", max_layers)) {
    for (const json& layer : *layers) {
      BlobRef blob;
      ReadBlobObject(fields, layer, "a layer", blob);
      if (!fields.ok()) break;
      p.layers.push_back(std::move(blob));
    }
  }
  return fields.Done(std::move(p));
}

std::string Encode(const BlobRequest& r) { return DumpJson({{"id", r.id}, {"blob", BlobToJson(r.blob)}}); }

Result<BlobRequest> DecodeBlobRequest(std::string_view body) {
  BANGER_ASSIGN_OR_RETURN(json j, ParseObject(body, "fetch-blob"));
  BlobRequest r;
  FieldReader fields(j, "fetch-blob");
  fields.Uint("id", r.id);
  ReadBlob(fields, "blob", r.blob);
  return fields.Done(std::move(r));
}

std::string Encode(const UrlRequest& r) {
  return DumpJson({{"id", r.id}, {"url", r.url}, {"max_bytes", r.max_bytes}});
}

Result<UrlRequest> DecodeUrlRequest(std::string_view body) {
  BANGER_ASSIGN_OR_RETURN(json j, ParseObject(body, "fetch-url"));
  UrlRequest r;
  FieldReader fields(j, "fetch-url");
  fields.Uint("id", r.id).String("url", r.url, kMaxUrlBytes).Uint("max_bytes", r.max_bytes);
  return fields.Done(std::move(r));
}

std::string Encode(const BlobProgress& p) { return DumpJson({{"id", p.id}, {"bytes", p.bytes}}); }

Result<BlobProgress> DecodeBlobProgress(std::string_view body) {
  BANGER_ASSIGN_OR_RETURN(json j, ParseObject(body, "blob progress"));
  BlobProgress p;
  FieldReader fields(j, "blob progress");
  fields.Uint("id", p.id).Uint("bytes", p.bytes);
  return fields.Done(p);
}

}  // namespace banger::ipc
