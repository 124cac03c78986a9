// The fetcher process: the only helper with a network. Issue 3 gives it the registry
// client; today it starts libcurl, locks down and answers the lifecycle messages.
#pragma once

namespace banger::fetcher {

int RunFetcherProcess();

}  // namespace banger::fetcher
