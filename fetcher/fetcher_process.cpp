#include "fetcher/fetcher_process.h"

#include <unistd.h>

#include <curl/curl.h>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "ipc/fetch_protocol.h"
#include "fetcher/network_gateway.h"
#include "fetcher/registry_client.h"
#include "fetcher/url_download.h"
#include "security/helper_session.h"
#include "security/spawn.h"

namespace banger::fetcher {
namespace {

// One pull's worth of registry work: a resolve, then blob downloads in parallel threads
// (the broker bounds how many are in flight), each into a pipe the broker drains; the
// broker counts the bytes itself, so there is no progress to report.
class FetcherService {
 public:
  // The broker's network gate is the fetcher's first passed fd: it has no other way out.
  explicit FetcherService(ipc::Channel& channel)
      : channel_(channel),
        gateway_(ipc::Channel(UniqueFd(security::kFirstPassedFd), "the broker's network gate")) {}
  ~FetcherService() {
    for (auto& worker : workers_) worker.join();
  }

  Result<void> Resolve(ipc::Message& message) {
    BANGER_ASSIGN_OR_RETURN(ipc::ResolveRequest request, ipc::Decode<ipc::ResolveRequest>(message.body));
    BANGER_ASSIGN_OR_RETURN(ipc::ResolvedPlan plan, ResolveForBroker(request, message.fds[0].get(), &gateway_, client_));
    return channel_.Send(ipc::Message::Make(ipc::MessageType::kResolved, ipc::Encode(plan)));
  }

  Result<void> StartBlob(ipc::Message& message) {
    if (!client_) return Error{ErrorCode::kUnexpected, "blob requested before the image was resolved"};
    BANGER_ASSIGN_OR_RETURN(ipc::BlobRequest request, ipc::Decode<ipc::BlobRequest>(message.body));
    workers_.emplace_back([this, request, pipe = std::move(message.fds[0])]() mutable {
      Descriptor blob;
      blob.digest = request.blob.digest;
      blob.size = request.blob.size;
      blob.media_type = request.blob.media_type;
      auto done = client_->DownloadBlob(blob, pipe.get(), nullptr);
      pipe.reset();  // the broker sees the end of the bytes before the report
      Report(request.id, done);
    });
    return {};
  }

  // A signature's document, after the resolve and before any blob (one at a time).
  Result<void> FetchDocument(ipc::Message& message) {
    if (!client_) return Error{ErrorCode::kUnexpected, "document requested before the image was resolved"};
    BANGER_ASSIGN_OR_RETURN(ipc::DocumentRequest request, ipc::Decode<ipc::DocumentRequest>(message.body));
    BANGER_ASSIGN_OR_RETURN(std::optional<RegistryClient::FetchedDocument> document,
                            client_->FetchDocument(request.selector, request.referrers, request.artifact_type, request.page));
    ipc::DocumentFetched fetched;
    if (document) {
      BANGER_TRY(PwriteAll(message.fds[0].get(), document->body, 0, "writing a document for the broker"));
      fetched = {true, document->media_type.substr(0, ipc::kMaxBlobMediaTypeBytes), document->body.size(),
                 document->next.substr(0, ipc::kMaxUrlBytes)};
    }
    return channel_.Send(ipc::Message::Make(ipc::MessageType::kDocumentFetched, ipc::Encode(fetched)));
  }

  // A catalog document or a bundle: no registry, no credentials (url_download.h).
  Result<void> StartUrl(ipc::Message& message) {
    BANGER_ASSIGN_OR_RETURN(ipc::UrlRequest request, ipc::Decode<ipc::UrlRequest>(message.body));
    workers_.emplace_back([this, request, pipe = std::move(message.fds[0])]() mutable {
      auto done = DownloadUrl(&gateway_, request.url, request.max_bytes, pipe.get(), nullptr);
      pipe.reset();
      Report(request.id, done);
    });
    return {};
  }

 private:
  void Report(uint64_t id, const Result<uint64_t>& done) {
    (void)channel_.Send(done ? ipc::Message::Make(ipc::MessageType::kBlobDone, ipc::Encode(ipc::BlobDone{id, *done}))
                             : ipc::MakeErrorMessage(done.error()));
  }

  ipc::Channel& channel_;
  NetworkGateway gateway_;
  std::unique_ptr<RegistryClient> client_;
  std::vector<std::thread> workers_;
};

// What the broker may ask of the fetcher.
const security::DispatchTable<FetcherService> kFetcherServes = {
    {ipc::MessageType::kResolve, &FetcherService::Resolve},
    {ipc::MessageType::kFetchBlob, &FetcherService::StartBlob},
    {ipc::MessageType::kFetchUrl, &FetcherService::StartUrl},
    {ipc::MessageType::kFetchDocument, &FetcherService::FetchDocument}};

}  // namespace

Result<ipc::ResolvedPlan> ResolveForBroker(const ipc::ResolveRequest& request, int sink, NetworkGateway* gateway,
                                           std::unique_ptr<RegistryClient>& client) {
  BANGER_ASSIGN_OR_RETURN(Reference reference, ParseReference(request.reference));
  BANGER_ASSIGN_OR_RETURN(Platform platform, ParsePlatform(request.platform));
  RegistryOptions options;
  options.allow_plain_http = request.allow_plain_http || reference.IsLoopback();
  options.credentials = {request.username, request.password, request.identity_token};
  options.ca_pem = request.ca_pem;
  options.limits.max_bytes = request.max_document_bytes;
  options.limits.max_layers = request.max_layers;
  options.gateway = gateway;
  client = std::make_unique<RegistryClient>(reference, options);
  BANGER_ASSIGN_OR_RETURN(ResolvedDocuments documents, client->Resolve(platform));
  // The broker derives the plan from these bytes itself, with the same code.
  std::vector<std::string_view> indexes(documents.indexes.begin(), documents.indexes.end());
  BANGER_ASSIGN_OR_RETURN(ipc::ResolvedPlan plan,
                          ipc::DerivePlan(indexes, documents.manifest, documents.manifest_media_type, platform,
                                          options.limits, "manifest of " + reference.String()));
  uint64_t offset = 0;
  for (const std::string& document : documents.indexes) {
    BANGER_TRY(PwriteAll(sink, document, offset, "writing an index for the broker"));
    offset += document.size();
  }
  BANGER_TRY(PwriteAll(sink, documents.manifest, offset, "writing the manifest for the broker"));
  return plan;
}

// libcurl reads its configuration and initialises TLS here, before the root disappears.
Result<void> InitialiseFetcher() {
  if (CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT); rc != CURLE_OK) {
    return Error{ErrorCode::kIo, std::string("libcurl initialisation failed: ") + curl_easy_strerror(rc)};
  }
  return {};
}

security::MessageHandler MakeFetcherHandler(ipc::Channel& channel) {
  return security::Dispatch(std::make_shared<FetcherService>(channel), kFetcherServes);
}

int RunFetcherProcess() {
  // The service joins its download threads when it goes, before the process ends.
  return security::RunHelper("banger-fetcher", security::ProcessKind::kFetcher, InitialiseFetcher, MakeFetcherHandler);
}

}  // namespace banger::fetcher
