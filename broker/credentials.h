// Registry credentials from the docker client's configuration, read by the broker (the
// fetcher cannot run helpers): $DOCKER_CONFIG/config.json, else ~/.docker/config.json.
// `credHelpers` and `credsStore` run docker-credential-<name> get; else `auths` holds
// "auth" (base64 user:pass), username/password, or an identitytoken.
#pragma once

#include <string>

#include "broker/image_fetch.h"
#include "base/result.h"

namespace banger::broker {

// Empty credentials (anonymous) when nothing is configured for the registry.
Result<RegistryCredentials> LookupCredentials(const std::string& registry);
// The same from an explicit config file path (tests).
Result<RegistryCredentials> LookupCredentialsIn(const std::string& config_path, const std::string& registry);

}  // namespace banger::broker
