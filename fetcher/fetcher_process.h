// The fetcher process: the only helper with a network. It resolves a reference and
// downloads blobs and URLs, each into a pipe the broker drains (docs/fetcher.md).
#pragma once

#include <memory>

#include "base/result.h"
#include "fetcher/registry_client.h"
#include "ipc/channel.h"
#include "ipc/fetch_protocol.h"
#include "security/helper_session.h"

namespace banger::fetcher {

// Before lockdown: libcurl reads its configuration and initialises TLS.
Result<void> InitialiseFetcher();
// After lockdown: what serves the broker's requests on `channel` (one pull's worth).
security::MessageHandler MakeFetcherHandler(ipc::Channel& channel);

// A kResolve request's work, through the broker's network `gateway`: resolves the reference with a new `client`, writes the
// documents on the way into `sink` (each index, then the manifest) and returns the plan
// they give, for the broker to check against the same bytes.
Result<ipc::ResolvedPlan> ResolveForBroker(const ipc::ResolveRequest& request, int sink, NetworkGateway* gateway,
                                           std::unique_ptr<RegistryClient>& client);

int RunFetcherProcess();

}  // namespace banger::fetcher
