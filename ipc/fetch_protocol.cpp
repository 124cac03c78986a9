#include "ipc/fetch_protocol.h"

#include <nlohmann/json.hpp>

#include "base/digest.h"

namespace banger::ipc {
namespace {

using nlohmann::json;

json BlobToJson(const BlobRef& b) { return {{"digest", b.digest}, {"size", b.size}, {"media_type", b.media_type}}; }

Result<BlobRef> BlobFromJson(const json& j, const std::string& where) {
  BlobRef b;
  b.digest = j.at("digest").get<std::string>();
  BANGER_TRY(CheckDigest(b.digest, where));
  b.size = j.at("size").get<uint64_t>();
  b.media_type = j.at("media_type").get<std::string>();
  if (b.media_type.size() > 255) return Error{ErrorCode::kMalformed, where + ": media type too long"};
  return b;
}

template <class F>
auto Guard(const char* what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const json::exception& e) {
    return Error{ErrorCode::kMalformed, std::string("malformed ") + what + ": " + e.what()};
  }
}

}  // namespace

json ToJson(const ResolveRequest& r) {
  return {{"reference", r.reference},
          {"platform", r.platform},
          {"allow_plain_http", r.allow_plain_http},
          {"username", r.username},
          {"password", r.password},
          {"identity_token", r.identity_token},
          {"ca_pem", r.ca_pem},
          {"max_document_bytes", r.max_document_bytes},
          {"max_layers", r.max_layers}};
}

Result<ResolveRequest> ResolveRequestFromJson(const json& j) {
  return Guard("resolve request", [&]() -> Result<ResolveRequest> {
    ResolveRequest r;
    r.reference = j.at("reference").get<std::string>();
    r.platform = j.at("platform").get<std::string>();
    r.allow_plain_http = j.at("allow_plain_http").get<bool>();
    r.username = j.at("username").get<std::string>();
    r.password = j.at("password").get<std::string>();
    r.identity_token = j.at("identity_token").get<std::string>();
    r.ca_pem = j.at("ca_pem").get<std::string>();
    r.max_document_bytes = j.at("max_document_bytes").get<uint64_t>();
    r.max_layers = j.at("max_layers").get<uint64_t>();
    return r;
  });
}

json ToJson(const ResolvedPlan& p) {
  json layers = json::array();
  for (const BlobRef& l : p.layers) layers.push_back(BlobToJson(l));
  return {{"manifest_digest", p.manifest_digest},
          {"manifest_media_type", p.manifest_media_type},
          {"platform", p.platform},
          {"config", BlobToJson(p.config)},
          {"layers", layers}};
}

Result<ResolvedPlan> ResolvedPlanFromJson(const json& j, uint64_t max_layers) {
  return Guard("plan from the fetcher", [&]() -> Result<ResolvedPlan> {
    ResolvedPlan p;
    p.manifest_digest = j.at("manifest_digest").get<std::string>();
    BANGER_TRY(CheckDigest(p.manifest_digest, "the fetcher's plan"));
    p.manifest_media_type = j.at("manifest_media_type").get<std::string>();
    p.platform = j.at("platform").get<std::string>();
    BANGER_ASSIGN_OR_RETURN(p.config, BlobFromJson(j.at("config"), "the fetcher's plan (config)"));
    const json& layers = j.at("layers");
    if (!layers.is_array() || layers.size() > max_layers) {
      return Error{ErrorCode::kOversized, "the fetcher's plan has more than " + std::to_string(max_layers) + " layers"};
    }
    for (const json& l : layers) {
      BANGER_ASSIGN_OR_RETURN(BlobRef b, BlobFromJson(l, "the fetcher's plan (layer)"));
      p.layers.push_back(std::move(b));
    }
    return p;
  });
}

json ToJson(const BlobRequest& r) { return {{"id", r.id}, {"blob", BlobToJson(r.blob)}}; }

Result<BlobRequest> BlobRequestFromJson(const json& j) {
  return Guard("blob request", [&]() -> Result<BlobRequest> {
    BlobRequest r;
    r.id = j.at("id").get<uint64_t>();
    BANGER_ASSIGN_OR_RETURN(r.blob, BlobFromJson(j.at("blob"), "blob request"));
    return r;
  });
}

}  // namespace banger::ipc
