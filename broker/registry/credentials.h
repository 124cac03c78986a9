// Registry credentials from the docker client's configuration, read by the broker (the
// fetcher cannot run helpers): $DOCKER_CONFIG/config.json, else ~/.docker/config.json.
// `credHelpers` and `credsStore` run docker-credential-<name> get; else `auths` holds
// "auth" (base64 user:pass), username/password, or an identitytoken.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "broker/host/environment.h"

namespace banger::broker {

struct RegistryCredentials {
  std::string username;
  std::string password;
  std::string identity_token;
};

// What a credential helper runs with: the user's environment, as docker runs it; as root,
// its PATH keeps only directories no one but root could have changed (trusted_paths.h),
// so that a PATH entry another user can write does not choose the program root runs
// with registry secrets (no PATH: sudo's secure_path).
std::vector<std::string> CredentialHelperEnvironment(const HostEnvironment& env);

// Empty credentials (anonymous) when nothing is configured for the registry.
Result<RegistryCredentials> LookupCredentials(const HostEnvironment& env, const std::string& registry);
// The same from an explicit config file path; a credential helper runs with
// `helper_environment` (the user's, as docker runs it).
Result<RegistryCredentials> LookupCredentialsIn(const std::string& config_path, const std::string& registry,
                                                const std::vector<std::string>& helper_environment);

}  // namespace banger::broker
