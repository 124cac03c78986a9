// Plain URL downloads (a catalog document, a catalog bundle) through the sandboxed
// fetcher: no registry protocol and no credentials (fetcher/url_download.h).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "base/fd.h"
#include "base/result.h"
#include "broker/host/helpers.h"
#include "broker/pull/pipe_download.h"

namespace banger::broker {

// Downloads `url` (at most `max_bytes`): the fetcher writes into a pipe, `receive` takes
// the bytes out; the bytes received. `progress` hears the bytes so far. Bytes past the
// bound, or a count that does not add up, are the fetcher's protocol break.
Result<uint64_t> DownloadUrl(const HelperLauncher& launcher, const std::string& url, uint64_t max_bytes,
                             const PipeReceiver& receive, const std::function<void(uint64_t bytes)>& progress = nullptr);

// The whole document at `url` (at most `max_bytes`), for registry/catalog.h's UrlReader.
Result<std::string> ReadUrl(const HelperLauncher& launcher, const std::string& url, uint64_t max_bytes);

}  // namespace banger::broker
