// Extra CAs a registry's TLS may chain to, by docker's certs.d convention: every
// <dir>/<registry>/*.crt of the given directories, in name order.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"

namespace banger::broker {

// The defaults: banger's own directory, then docker's.
inline const std::vector<std::string> kDefaultCertsDirs = {"/etc/banger/certs.d", "/etc/docker/certs.d"};

// The PEM text of those files, bounded so it fits one control message to the fetcher.
Result<std::string> RegistryCaPem(const std::vector<std::string>& dirs, const std::string& registry);

}  // namespace banger::broker
