// The bodies of the fetcher's messages, shared by the fetcher and the broker so both
// ends read and write the same JSON.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/result.h"

namespace banger::ipc {

struct BlobRef {
  std::string digest;
  uint64_t size = 0;
  std::string media_type;
};

struct ResolveRequest {
  std::string reference;  // canonical form
  std::string platform = "linux/amd64";
  bool allow_plain_http = false;
  std::string username, password, identity_token;  // for this registry only
  std::string ca_pem;                              // extra CAs for this registry (certs.d)
  uint64_t max_document_bytes = 4 << 20;
  uint64_t max_layers = 128;
};

struct ResolvedPlan {
  std::string manifest_digest;
  std::string manifest_media_type;
  std::string platform;  // the index entry's, when the manifest was chosen from one; else empty
  BlobRef config;
  std::vector<BlobRef> layers;
};

struct BlobRequest {
  uint64_t id = 0;
  BlobRef blob;
};

nlohmann::json ToJson(const ResolveRequest& r);
Result<ResolveRequest> ResolveRequestFromJson(const nlohmann::json& j);
nlohmann::json ToJson(const ResolvedPlan& p);
// Checks digest syntax and bounds on everything, since the plan comes from a child.
Result<ResolvedPlan> ResolvedPlanFromJson(const nlohmann::json& j, uint64_t max_layers);
nlohmann::json ToJson(const BlobRequest& r);
Result<BlobRequest> BlobRequestFromJson(const nlohmann::json& j);

}  // namespace banger::ipc
