#include "broker/registry/credentials.h"

#include "base/text.h"
#include "broker/host/trusted_paths.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/base64.h"
#include "base/json.h"
#include "broker/host/subprocess.h"

namespace banger::broker {
namespace {

using nlohmann::json;

constexpr size_t kMaxConfigBytes = 1 << 20;

// "https://index.docker.io/v1/" -> "index.docker.io"; "host:5000/path" -> "host:5000".
std::string NormalizeKey(std::string key) {
  if (size_t scheme = key.find("://"); scheme != std::string::npos) key = key.substr(scheme + 3);
  key = key.substr(0, key.find('/'));
  key = AsciiLower(key);
  if (key == "index.docker.io" || key == "registry-1.docker.io" || key == "registry.hub.docker.com") key = "docker.io";
  return key;
}

// What docker passes to helpers for each registry.
std::string HelperServerUrl(const std::string& registry) {
  return registry == "docker.io" ? "https://index.docker.io/v1/" : registry;
}

Result<RegistryCredentials> FromHelper(const std::string& helper, const std::string& registry,
                                       const std::vector<std::string>& environment) {
  const std::string program = "docker-credential-" + helper;
  for (char c : helper) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) {
      return Error{ErrorCode::kInvalidArgument, "credential helper name '" + helper + "' is not valid"};
    }
  }
  BANGER_ASSIGN_OR_RETURN(ProcessOutput output, RunProgram({program, "get"}, HelperServerUrl(registry) + "\n", 30000, environment));
  if (output.exit_status != 0) {
    // Helpers say "credentials not found in native keychain" when they hold nothing for us.
    if (output.out.find("credentials not found") != std::string::npos ||
        output.err.find("credentials not found") != std::string::npos) {
      return RegistryCredentials{};
    }
    std::string why = output.err.empty() ? output.out : output.err;
    while (!why.empty() && (why.back() == '\n' || why.back() == '\r')) why.pop_back();
    return Error{ErrorCode::kInvalidArgument, program + " get failed for " + registry + ": " + why.substr(0, 200)};
  }
  auto parsed = ParseJsonBounded(output.out, 8);
  if (!parsed || !parsed->is_object()) return Error{ErrorCode::kMalformed, program + " printed something other than JSON"};
  RegistryCredentials creds;
  std::string user = parsed->value("Username", "");
  std::string secret = parsed->value("Secret", "");
  if (user == "<token>") {
    creds.identity_token = secret;
  } else {
    creds.username = user;
    creds.password = secret;
  }
  return creds;
}

// The docker config file `env` points at ("" when neither DOCKER_CONFIG nor HOME is set).
std::string DockerConfigPath(const HostEnvironment& env) {
  if (!env.docker_config.empty()) return env.docker_config + "/config.json";
  if (!env.home.empty()) return env.home + "/.docker/config.json";
  return "";
}

}  // namespace

Result<RegistryCredentials> LookupCredentialsIn(const std::string& config_path, const std::string& registry,
                                                const std::vector<std::string>& helper_environment) {
  std::ifstream in(config_path, std::ios::binary);
  if (!in) return RegistryCredentials{};  // no config: anonymous
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > kMaxConfigBytes) return Error{ErrorCode::kOversized, config_path + " is larger than 1 MiB"};
  auto parsed = ParseJsonBounded(text.str(), 16);
  if (!parsed) return parsed.error().Wrap(config_path);
  if (!parsed->is_object()) return Error{ErrorCode::kMalformed, config_path + ": not a JSON object"};
  const json& config = *parsed;
  const std::string wanted = NormalizeKey(registry);
  try {
    if (config.contains("credHelpers") && config["credHelpers"].is_object()) {
      for (const auto& [key, helper] : config["credHelpers"].items()) {
        if (NormalizeKey(key) == wanted && helper.is_string()) return FromHelper(helper.get<std::string>(), wanted, helper_environment);
      }
    }
    if (config.contains("credsStore") && config["credsStore"].is_string() &&
        !config["credsStore"].get<std::string>().empty()) {
      return FromHelper(config["credsStore"].get<std::string>(), wanted, helper_environment);
    }
    if (config.contains("auths") && config["auths"].is_object()) {
      for (const auto& [key, entry] : config["auths"].items()) {
        if (NormalizeKey(key) != wanted || !entry.is_object()) continue;
        RegistryCredentials creds;
        creds.identity_token = entry.value("identitytoken", "");
        if (entry.contains("auth") && entry["auth"].is_string() && !entry["auth"].get<std::string>().empty()) {
          BANGER_ASSIGN_OR_RETURN(std::string pair, DecodeBase64(entry["auth"].get<std::string>()));
          size_t colon = pair.find(':');
          if (colon == std::string::npos) {
            return Error{ErrorCode::kMalformed, config_path + ": the auth entry for " + key + " is not user:password"};
          }
          creds.username = pair.substr(0, colon);
          creds.password = pair.substr(colon + 1);
        } else {
          creds.username = entry.value("username", "");
          creds.password = entry.value("password", "");
        }
        return creds;
      }
    }
  } catch (const json::exception& e) {
    return Error{ErrorCode::kMalformed, config_path + ": " + e.what()};
  }
  return RegistryCredentials{};
}


std::vector<std::string> CredentialHelperEnvironment(const HostEnvironment& env) {
  if (!env.root) return env.variables;
  std::vector<std::string> variables;
  std::string path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";  // as sudo's secure_path
  for (const std::string& variable : env.variables) {
    if (variable.rfind("PATH=", 0) == 0) {
      path = variable.substr(5);
    } else {
      variables.push_back(variable);
    }
  }
  std::string trusted;
  for (size_t start = 0; start <= path.size();) {
    const size_t colon = std::min(path.find(':', start), path.size());
    const std::string dir = path.substr(start, colon - start);
    if (!dir.empty() && dir.front() == '/' && CheckTrustedPath(dir, "PATH")) trusted += (trusted.empty() ? "" : ":") + dir;
    start = colon + 1;
  }
  variables.push_back("PATH=" + trusted);
  return variables;
}

Result<RegistryCredentials> LookupCredentials(const HostEnvironment& env, const std::string& registry) {
  const std::string path = DockerConfigPath(env);
  if (path.empty()) return RegistryCredentials{};
  return LookupCredentialsIn(path, registry, CredentialHelperEnvironment(env));
}

}  // namespace banger::broker
