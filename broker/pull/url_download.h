// Plain URL downloads (a catalog document, a catalog bundle) through the sandboxed
// fetcher: no registry protocol and no credentials (fetcher/url_download.h).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "base/result.h"
#include "broker/host/helpers.h"

namespace banger::broker {

// Downloads `url` into `fd` (at most `max_bytes`); the bytes written. `progress` hears
// the bytes so far.
Result<uint64_t> DownloadUrl(const HelperLauncher& launcher, const std::string& url, uint64_t max_bytes, int fd,
                             const std::function<void(uint64_t bytes)>& progress = nullptr);

// The whole document at `url` (at most `max_bytes`), for registry/catalog.h's UrlReader.
Result<std::string> ReadUrl(const HelperLauncher& launcher, const std::string& url, uint64_t max_bytes);

}  // namespace banger::broker
