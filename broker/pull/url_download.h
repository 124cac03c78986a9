// Plain URL downloads (a catalog document, a catalog bundle) through the sandboxed
// fetcher: no registry protocol and no credentials (fetcher/url_download.h).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "base/fd.h"
#include "base/result.h"
#include "broker/host/helpers.h"

namespace banger::broker {

// Moves what the fetcher's pipe holds now to where the bytes go (IncomingBlob::ReceiveFrom,
// or SpliceFromPipe into a file).
using PipeReceiver = std::function<Result<Spliced>(int pipe)>;

// Downloads `url` (at most `max_bytes`): the fetcher writes into a pipe, `receive` takes
// the bytes out; the bytes received. `progress` hears the bytes so far.
Result<uint64_t> DownloadUrl(const HelperLauncher& launcher, const std::string& url, uint64_t max_bytes,
                             const PipeReceiver& receive, const std::function<void(uint64_t bytes)>& progress = nullptr);

// The whole document at `url` (at most `max_bytes`), for registry/catalog.h's UrlReader.
Result<std::string> ReadUrl(const HelperLauncher& launcher, const std::string& url, uint64_t max_bytes);

}  // namespace banger::broker
