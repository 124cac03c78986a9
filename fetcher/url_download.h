// Plain URL downloads for the catalog path (the catalog document and bundles): https,
// or http to a loopback host only; redirects followed (at most five, never onto plain
// http elsewhere); no credentials are ever sent. The broker verifies what arrives.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "base/result.h"

namespace banger::fetcher {

class NetworkGateway;

// Through `gateway` (http.h), writes the body into `fd`, a pipe the broker drains, each byte once (a retry skips what
// was sent); refuses more than `max_bytes`.
Result<uint64_t> DownloadUrl(NetworkGateway* gateway, const std::string& url, uint64_t max_bytes, int fd,
                             const std::function<void(uint64_t bytes)>& progress);

}  // namespace banger::fetcher
