// The fetcher process: the only helper with a network. It resolves a reference and
// downloads blobs and URLs, each into a pipe the broker drains (docs/fetcher.md).
#pragma once

#include "base/result.h"
#include "ipc/channel.h"
#include "security/helper_session.h"

namespace banger::fetcher {

// Before lockdown: libcurl reads its configuration and initialises TLS.
Result<void> InitialiseFetcher();
// After lockdown: what serves the broker's requests on `channel` (one pull's worth).
security::MessageHandler MakeFetcherHandler(ipc::Channel& channel);

int RunFetcherProcess();

}  // namespace banger::fetcher
