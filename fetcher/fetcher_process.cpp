#include "fetcher/fetcher_process.h"

#include <unistd.h>

#include <chrono>
#include <curl/curl.h>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "ipc/fetch_protocol.h"
#include "fetcher/registry_client.h"
#include "fetcher/url_download.h"
#include "security/helper_session.h"

namespace banger::fetcher {
namespace {

using Clock = std::chrono::steady_clock;

// One pull's worth of registry work: a resolve, then blob downloads in parallel threads
// (the broker bounds how many are in flight).
class FetcherService {
 public:
  explicit FetcherService(ipc::Channel& channel) : channel_(channel) {}
  ~FetcherService() {
    for (auto& worker : workers_) worker.join();
  }

  Result<bool> Handle(ipc::Message& message) {
    switch (message.type) {
      case ipc::MessageType::kResolve: BANGER_TRY(Resolve(message)); return true;
      case ipc::MessageType::kFetchBlob: BANGER_TRY(StartBlob(message)); return true;
      case ipc::MessageType::kFetchUrl: BANGER_TRY(StartUrl(message)); return true;
      default: return false;
    }
  }

 private:
  Result<void> Resolve(ipc::Message& message) {
    BANGER_ASSIGN_OR_RETURN(nlohmann::json body, message.Json());
    BANGER_ASSIGN_OR_RETURN(ipc::ResolveRequest request, ipc::ResolveRequestFromJson(body));
    BANGER_ASSIGN_OR_RETURN(Reference reference, ParseReference(request.reference));
    BANGER_ASSIGN_OR_RETURN(Platform platform, ParsePlatform(request.platform));
    RegistryOptions options;
    options.allow_plain_http = request.allow_plain_http || reference.IsLoopback();
    options.credentials = {request.username, request.password, request.identity_token};
    options.ca_pem = request.ca_pem;
    options.limits.max_bytes = request.max_document_bytes;
    options.limits.max_layers = request.max_layers;
    client_ = std::make_unique<RegistryClient>(reference, options);
    BANGER_ASSIGN_OR_RETURN(ImagePlan plan, client_->Resolve(platform));
    BANGER_TRY(PwriteAll(message.fds[0].get(), plan.manifest_body, 0, "writing the manifest for the broker"));
    ipc::ResolvedPlan out;
    out.manifest_digest = plan.manifest_digest;
    out.manifest_media_type = plan.manifest_media_type;
    out.platform = plan.from_index ? plan.platform.String() : "";  // empty: the reference named one manifest
    out.config = {plan.config.digest, plan.config.size, plan.config.media_type};
    for (const Descriptor& l : plan.layers) out.layers.push_back({l.digest, l.size, l.media_type});
    return channel_.Send(ipc::Message::WithJson(ipc::MessageType::kResolved, ipc::ToJson(out)));
  }

  Result<void> StartBlob(ipc::Message& message) {
    if (!client_) return Error{ErrorCode::kUnexpected, "blob requested before the image was resolved"};
    BANGER_ASSIGN_OR_RETURN(nlohmann::json body, message.Json());
    BANGER_ASSIGN_OR_RETURN(ipc::BlobRequest request, ipc::BlobRequestFromJson(body));
    workers_.emplace_back([this, request, fd = std::move(message.fds[0])] {
      Descriptor blob;
      blob.digest = request.blob.digest;
      blob.size = request.blob.size;
      blob.media_type = request.blob.media_type;
      auto last_report = Clock::now();
      auto progress = [&](uint64_t bytes) {
        if (Clock::now() - last_report < std::chrono::milliseconds(200)) return;
        last_report = Clock::now();
        (void)channel_.Send(
            ipc::Message::WithJson(ipc::MessageType::kBlobProgress, {{"id", request.id}, {"bytes", bytes}}));
      };
      auto done = client_->DownloadBlob(blob, fd.get(), progress);
      if (done) {
        (void)channel_.Send(
            ipc::Message::WithJson(ipc::MessageType::kBlobDone, {{"id", request.id}, {"bytes", *done}}));
      } else {
        (void)channel_.Send(ipc::MakeErrorMessage(done.error()));
      }
    });
    return {};
  }

  // A catalog document or a bundle: no registry, no credentials (url_download.h).
  Result<void> StartUrl(ipc::Message& message) {
    BANGER_ASSIGN_OR_RETURN(nlohmann::json body, message.Json());
    uint64_t id = 0, max_bytes = 0;
    std::string url;
    try {
      id = body.at("id").get<uint64_t>();
      url = body.at("url").get<std::string>();
      max_bytes = body.at("max_bytes").get<uint64_t>();
    } catch (const nlohmann::json::exception& e) {
      return Error{ErrorCode::kMalformed, std::string("malformed fetch-url request: ") + e.what()};
    }
    workers_.emplace_back([this, id, url, max_bytes, fd = std::move(message.fds[0])] {
      auto last_report = Clock::now();
      auto progress = [&](uint64_t bytes) {
        if (Clock::now() - last_report < std::chrono::milliseconds(200)) return;
        last_report = Clock::now();
        (void)channel_.Send(ipc::Message::WithJson(ipc::MessageType::kBlobProgress, {{"id", id}, {"bytes", bytes}}));
      };
      auto done = DownloadUrl(url, max_bytes, fd.get(), progress);
      (void)channel_.Send(done ? ipc::Message::WithJson(ipc::MessageType::kBlobDone, {{"id", id}, {"bytes", *done}})
                               : ipc::MakeErrorMessage(done.error()));
    });
    return {};
  }

  ipc::Channel& channel_;
  std::unique_ptr<RegistryClient> client_;
  std::vector<std::thread> workers_;
};

}  // namespace

int RunFetcherProcess() {
  auto initialise = []() -> Result<void> {
    // libcurl reads its configuration and initialises TLS here, before the root disappears.
    if (CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT); rc != CURLE_OK) {
      return Error{ErrorCode::kIo, std::string("libcurl initialisation failed: ") + curl_easy_strerror(rc)};
    }
    return {};
  };
  auto serve = [](ipc::Channel& channel) -> security::MessageHandler {
    auto service = std::make_shared<FetcherService>(channel);  // joins its threads when the handler goes
    return [service](ipc::Message& message) { return service->Handle(message); };
  };
  return security::RunHelper("banger-fetcher", security::ProcessKind::kFetcher, initialise, serve);
}

}  // namespace banger::fetcher
