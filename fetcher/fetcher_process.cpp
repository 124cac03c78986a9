#include "fetcher/fetcher_process.h"

#include <curl/curl.h>

#include "security/helper_session.h"

namespace banger::fetcher {

int RunFetcherProcess() {
  auto initialise = []() -> Result<void> {
    // libcurl reads its configuration and initialises TLS here, before the root disappears.
    if (CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT); rc != CURLE_OK) {
      return Error{ErrorCode::kIo, std::string("libcurl initialisation failed: ") + curl_easy_strerror(rc)};
    }
    return {};
  };
  auto refuse = [](ipc::Message&) -> Result<bool> { return false; };
  return security::RunHelper("banger-fetcher", security::ProcessKind::kFetcher, initialise, refuse);
}

}  // namespace banger::fetcher
