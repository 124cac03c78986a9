#include "broker/trust/trust_policy.h"

#include <algorithm>
#include <array>
#include <set>

#include "base/base64.h"
#include "base/json.h"
#include "base/text.h"

namespace banger::broker {
namespace {

using nlohmann::json;

constexpr size_t kMaxPolicyBytes = 1 << 20;

// The registry as a scope names it: docker's aliases of Docker Hub and a registry's
// default port (443) spell the same registry, and a scope keyed by one holds for all.
std::string ScopeRegistry(std::string registry) {
  if (registry.size() > 4 && registry.ends_with(":443")) registry.resize(registry.size() - 4);
  if (registry == "index.docker.io" || registry == "registry-1.docker.io") registry = "docker.io";
  return registry;
}
constexpr size_t kMaxKeysPerRequirement = 64;

// The policy's parse, with `where` ("transports.docker \"ghcr.io\" [0]") in every error.
class PolicyReader {
 public:
  PolicyReader(std::string source, const KeyFileReader& read_key) : source_(std::move(source)), read_key_(read_key) {}

  Error Invalid(const std::string& where, const std::string& why) const {
    return Error{ErrorCode::kInvalidArgument, "signature policy " + source_ + ": " + where + ": " + why};
  }

  // Every key of `object` is among `known`.
  Result<void> OnlyKnownKeys(const json& object, const std::set<std::string>& known, const std::string& where) const {
    for (const auto& [key, value] : object.items()) {
      if (!known.contains(key)) return Invalid(where, "unknown key \"" + Printable(key, 64) + "\"");
    }
    return {};
  }

  Result<std::string> String(const json& object, const std::string& key, const std::string& where) const {
    auto found = object.find(key);
    if (found == object.end() || !found->is_string() || found->get<std::string>().empty()) {
      return Invalid(where, "\"" + key + "\" must be a non-empty string");
    }
    return found->get<std::string>();
  }

  Result<std::vector<Requirement>> Requirements(const json& list, const std::string& where) const {
    if (!list.is_array() || list.empty()) return Invalid(where, "must be a non-empty list of requirements");
    std::vector<Requirement> out;
    for (size_t i = 0; i < list.size(); ++i) {
      BANGER_ASSIGN_OR_RETURN(Requirement requirement, OneRequirement(list[i], where + " [" + std::to_string(i) + "]"));
      out.push_back(std::move(requirement));
    }
    return out;
  }

 private:
  Result<Requirement> OneRequirement(const json& item, const std::string& where) const {
    if (!item.is_object()) return Invalid(where, "a requirement must be an object");
    BANGER_ASSIGN_OR_RETURN(std::string type, String(item, "type", where));
    Requirement requirement;
    if (type == "insecureAcceptAnything" || type == "reject") {
      BANGER_TRY(OnlyKnownKeys(item, {"type"}, where));
      requirement.kind = type == "reject" ? Requirement::Kind::kReject : Requirement::Kind::kInsecureAcceptAnything;
      return requirement;
    }
    if (type == "signedBy") {
      // GPG signatures: a valid requirement banger cannot satisfy, so it never accepts.
      requirement.kind = Requirement::Kind::kUnsupported;
      requirement.unsupported = "signedBy (GPG simple signing) is not verified by banger";
      return requirement;
    }
    if (type != "sigstoreSigned") return Invalid(where, "unknown requirement type \"" + Printable(type, 64) + "\"");
    return SigstoreSigned(item, where);
  }

  Result<Requirement> SigstoreSigned(const json& item, const std::string& where) const {
    BANGER_TRY(OnlyKnownKeys(item,
                             {"type", "keyPath", "keyPaths", "keyData", "keyDatas", "fulcio", "pki", "rekorPublicKeyPath",
                              "rekorPublicKeyPaths", "rekorPublicKeyData", "rekorPublicKeyDatas", "signedIdentity",
                              "namelessBundles"},
                             where));
    Requirement requirement;
    requirement.kind = Requirement::Kind::kSigstoreSigned;
    size_t sources = 0;
    for (const char* key : {"keyPath", "keyPaths", "keyData", "keyDatas", "fulcio", "pki"}) sources += item.contains(key);
    if (sources != 1) return Invalid(where, "sigstoreSigned needs exactly one of keyPath, keyPaths, keyData, keyDatas, fulcio, pki");
    if (item.contains("signedIdentity")) {
      BANGER_ASSIGN_OR_RETURN(requirement.identity, Identity(item["signedIdentity"], where + " signedIdentity"));
    }
    // banger's own key (docs/signatures.md): cosign's bundles name no repository.
    if (item.contains("namelessBundles")) {
      const json& nameless = item["namelessBundles"];
      if (nameless != "accept" && nameless != "refuse") return Invalid(where, "\"namelessBundles\" must be \"accept\" or \"refuse\"");
      requirement.accept_nameless_bundles = nameless == "accept";
      // A nameless bundle pins no tag: a rule that pins one would be silently weakened.
      const IdentityRule rule = requirement.identity.rule;
      if (requirement.accept_nameless_bundles && rule != IdentityRule::kMatchRepository &&
          rule != IdentityRule::kExactRepository) {
        return Invalid(where, "\"namelessBundles\": \"accept\" needs a signedIdentity that pins no tag "
                              "(matchRepository or exactRepository), as a nameless bundle pins none; not " +
                                  requirement.identity.Describe());
      }
    }
    for (const char* key : {"fulcio", "pki"}) {
      if (item.contains(key)) {
        requirement.kind = Requirement::Kind::kUnsupported;
        requirement.unsupported = std::string("sigstoreSigned with ") + key + " (keyless) is not verified by banger, which verifies keys only";
        return requirement;
      }
    }
    for (const char* key : {"rekorPublicKeyPath", "rekorPublicKeyPaths", "rekorPublicKeyData", "rekorPublicKeyDatas"}) {
      if (item.contains(key)) {
        requirement.kind = Requirement::Kind::kUnsupported;
        requirement.unsupported = std::string("sigstoreSigned with ") + key + " asks for a Rekor entry, which banger does not check yet";
        return requirement;
      }
    }
    BANGER_ASSIGN_OR_RETURN(requirement.keys, Keys(item, where));
    return requirement;
  }

  // The one key source a requirement names, as a list: keyPath and keyData hold one
  // string, keyPaths and keyDatas a list of 1 to 64.
  Result<std::vector<std::shared_ptr<const PublicKey>>> Keys(const json& item, const std::string& where) const {
    static constexpr std::array<std::pair<const char*, bool>, 4> kSources = {
        {{"keyPath", false}, {"keyData", false}, {"keyPaths", true}, {"keyDatas", true}}};
    const auto source = std::find_if(kSources.begin(), kSources.end(), [&](const auto& one) { return item.contains(one.first); });
    if (source == kSources.end()) return Invalid(where, "sigstoreSigned names no key");
    const std::string name = source->first;
    const bool is_path = name.starts_with("keyPath");
    const json& value = item[name];
    std::vector<std::string> entries;
    if (!source->second) {
      if (!value.is_string()) return Invalid(where, "\"" + name + "\" must be a string");
      entries.push_back(value.get<std::string>());
    } else {
      if (!value.is_array() || value.empty() || value.size() > kMaxKeysPerRequirement) {
        return Invalid(where, "\"" + name + "\" must be a list of 1 to 64 strings");
      }
      for (const json& one : value) {
        if (!one.is_string()) return Invalid(where, "\"" + name + "\" must hold strings");
        entries.push_back(one.get<std::string>());
      }
    }
    std::vector<std::shared_ptr<const PublicKey>> keys;
    for (const std::string& text : entries) {
      std::string pem;
      if (is_path) {
        if (text.empty() || text[0] != '/') return Invalid(where, "keyPath \"" + Printable(text, 200) + "\" is not an absolute path");
        auto read = read_key_(text);
        if (!read) return Invalid(where, read.error().message);
        pem = std::move(*read);
      } else {
        auto decoded = DecodeBase64(text);
        if (!decoded) return Invalid(where, "keyData is not base64");
        pem = std::move(*decoded);
      }
      auto key = PublicKey::FromPem(pem, is_path ? text : "keyData");
      if (!key) return Invalid(where, key.error().message);
      keys.push_back(std::make_shared<const PublicKey>(std::move(*key)));
    }
    return keys;
  }

  Result<SignedIdentity> Identity(const json& item, const std::string& where) const;

  std::string source_;
  const KeyFileReader& read_key_;
};

// A reference as a policy writes one: fully qualified, with a tag or digest when `tagged`.
Result<Reference> QualifiedReference(const std::string& text, bool tagged) {
  auto ref = ParseReference(text);
  if (!ref) return ref.error();
  const std::string name = ref->registry + "/" + ref->repository;
  const bool names_version = text.size() > name.size();
  if (text.compare(0, name.size(), name) != 0 || names_version != tagged) {
    return Error{ErrorCode::kInvalidArgument, tagged ? "must be a full reference with a tag or digest"
                                                     : "must be a full REGISTRY/REPOSITORY, without tag or digest"};
  }
  return ref;
}

// A remapIdentity prefix: host[:port], host[:port]/namespace or .../repository.
bool IsIdentityPrefix(const std::string& text) {
  if (text.empty() || text.find_first_of("@ \t") != std::string::npos || text.back() == '/') return false;
  const size_t slash = text.find('/');
  if (slash != std::string::npos && text.find(':', slash) != std::string::npos) return false;  // a tag
  return ParseReference(slash == std::string::npos ? text + "/x" : text).ok();
}

Result<SignedIdentity> PolicyReader::Identity(const json& item, const std::string& where) const {
  if (!item.is_object()) return Invalid(where, "must be an object");
  BANGER_ASSIGN_OR_RETURN(std::string type, String(item, "type", where));
  SignedIdentity identity;
  if (type == "matchExact" || type == "matchRepoDigestOrExact" || type == "matchRepository") {
    BANGER_TRY(OnlyKnownKeys(item, {"type"}, where));
    identity.rule = type == "matchExact"        ? IdentityRule::kMatchExact
                    : type == "matchRepository" ? IdentityRule::kMatchRepository
                                                : IdentityRule::kMatchRepoDigestOrExact;
  } else if (type == "exactReference") {
    BANGER_TRY(OnlyKnownKeys(item, {"type", "dockerReference"}, where));
    BANGER_ASSIGN_OR_RETURN(std::string text, String(item, "dockerReference", where));
    auto ref = QualifiedReference(text, true);
    if (!ref) return Invalid(where, "dockerReference \"" + Printable(text, 200) + "\" " + ref.error().message);
    identity.rule = IdentityRule::kExactReference;
    identity.docker_reference = ref->String();
  } else if (type == "exactRepository") {
    BANGER_TRY(OnlyKnownKeys(item, {"type", "dockerRepository"}, where));
    BANGER_ASSIGN_OR_RETURN(std::string text, String(item, "dockerRepository", where));
    auto ref = QualifiedReference(text, false);
    if (!ref) return Invalid(where, "dockerRepository \"" + Printable(text, 200) + "\" " + ref.error().message);
    identity.rule = IdentityRule::kExactRepository;
    identity.docker_repository = ref->registry + "/" + ref->repository;
  } else if (type == "remapIdentity") {
    BANGER_TRY(OnlyKnownKeys(item, {"type", "prefix", "signedPrefix"}, where));
    BANGER_ASSIGN_OR_RETURN(identity.prefix, String(item, "prefix", where));
    BANGER_ASSIGN_OR_RETURN(identity.signed_prefix, String(item, "signedPrefix", where));
    for (const std::string* prefix : {&identity.prefix, &identity.signed_prefix}) {
      if (!IsIdentityPrefix(*prefix)) {
        return Invalid(where, "\"" + Printable(*prefix, 200) + "\" is not host[:port], host[:port]/namespace or a repository");
      }
    }
    identity.rule = IdentityRule::kRemapIdentity;
  } else {
    return Invalid(where, "unknown signedIdentity type \"" + Printable(type, 64) + "\"");
  }
  return identity;
}

bool HasUpper(const std::string& text) {
  return std::any_of(text.begin(), text.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

// Why `scope` is no docker scope banger can match, or "" when it is one: "*.domain", or
// a canonical reference that starts with its registry (lowercase, no default port, no
// alias): a scope that could never match would be a rule that silently does nothing.
std::string WhyNotADockerScope(const std::string& scope) {
  if (HasUpper(scope)) return "scopes are lowercase (names are compared in canonical form)";
  if (scope.rfind("*.", 0) == 0) {
    const std::string domain = scope.substr(2);
    const bool valid = !domain.empty() && domain.find_first_of("/:@*") == std::string::npos && domain.front() != '.' &&
                       domain.back() != '.';
    return valid ? "" : "a wildcard is *.DOMAIN";
  }
  const std::string host = scope.substr(0, scope.find('/'));
  const bool registry_like = host.find_first_of(".:") != std::string::npos || host == "localhost" || host.front() == '[';
  if (scope.find("://") != std::string::npos || scope.back() == '/' || !registry_like) {
    return "not a docker scope: it must start with the registry (REGISTRY[/NAMESPACE...][:TAG|@DIGEST] or *.DOMAIN; "
           "docker.io/library/alpine, not alpine)";
  }
  if (ScopeRegistry(host) != host) return "name the registry as " + ScopeRegistry(host) + " (the same registry, in canonical form)";
  const size_t slash = scope.find('/');
  auto ref = ParseReference(slash == std::string::npos ? scope + "/x" : scope);
  if (!ref) return "not a docker scope: " + ref.error().message;
  const std::string last = scope.substr(scope.rfind('/') + 1);
  if (slash != std::string::npos && last.find_first_of(":@") != std::string::npos && ref->String() != scope) {
    return "a scope with a tag or digest is a canonical reference (" + ref->String() + ")";
  }
  return "";
}

}  // namespace

std::string SignedIdentity::Describe() const {
  switch (rule) {
    case IdentityRule::kMatchRepoDigestOrExact: return "matchRepoDigestOrExact";
    case IdentityRule::kMatchExact: return "matchExact";
    case IdentityRule::kMatchRepository: return "matchRepository";
    case IdentityRule::kExactReference: return "exactReference " + docker_reference;
    case IdentityRule::kExactRepository: return "exactRepository " + docker_repository;
    case IdentityRule::kRemapIdentity: return "remapIdentity " + prefix + " -> " + signed_prefix;
  }
  return "";
}

std::string Requirement::Describe() const {
  switch (kind) {
    case Kind::kInsecureAcceptAnything: return "insecureAcceptAnything";
    case Kind::kReject: return "reject";
    case Kind::kSigstoreSigned: return "sigstoreSigned";
    case Kind::kUnsupported: return "unsupported";
  }
  return "";
}

Result<TrustPolicy> TrustPolicy::Parse(std::string_view text, const std::string& source, const KeyFileReader& read_key) {
  const PolicyReader reader(source, read_key);
  if (text.size() > kMaxPolicyBytes) return reader.Invalid("the file", "larger than 1 MiB");
  auto parsed = ParseJsonStrict(text);
  if (!parsed) return reader.Invalid("the file", parsed.error().message);
  const json& policy = *parsed;
  if (!policy.is_object()) return reader.Invalid("the file", "not a JSON object");
  BANGER_TRY(reader.OnlyKnownKeys(policy, {"default", "transports"}, "the top level"));
  if (!policy.contains("default")) return reader.Invalid("the top level", "\"default\" is required");
  TrustPolicy out;
  out.source_ = source;
  BANGER_ASSIGN_OR_RETURN(out.default_, reader.Requirements(policy["default"], "default"));
  if (!policy.contains("transports")) return out;
  const json& transports = policy["transports"];
  if (!transports.is_object()) return reader.Invalid("transports", "must be an object");
  for (const auto& [transport, scopes] : transports.items()) {
    const std::string where = "transports." + Printable(transport, 64);
    if (!scopes.is_object()) return reader.Invalid(where, "must be an object of scopes");
    for (const auto& [scope, requirements] : scopes.items()) {
      const std::string at = where + " \"" + Printable(scope, 200) + "\"";
      BANGER_ASSIGN_OR_RETURN(std::vector<Requirement> parsed_requirements, reader.Requirements(requirements, at));
      // Other transports (docker-daemon, oci, ...) are checked, never consulted: banger
      // pulls from registries only.
      if (transport != "docker") continue;
      if (!scope.empty()) {
        if (const std::string why = WhyNotADockerScope(scope); !why.empty()) return reader.Invalid(at, why);
      }
      out.docker_.emplace_back(scope, std::move(parsed_requirements));
    }
  }
  return out;
}

TrustPolicy TrustPolicy::AcceptAnything() {
  TrustPolicy out;
  out.source_ = "(no policy file)";
  Requirement anything;
  anything.kind = Requirement::Kind::kInsecureAcceptAnything;
  out.default_.push_back(std::move(anything));
  return out;
}

std::vector<std::string> PolicyScopesOf(const Reference& ref) {
  std::string name = ScopeRegistry(ref.registry) + "/" + ref.repository;
  std::vector<std::string> scopes = {name + (ref.digest.empty() ? ":" + ref.tag : "@" + ref.digest)};
  for (;;) {
    scopes.push_back(name);
    const size_t slash = name.rfind('/');
    if (slash == std::string::npos) break;
    name.resize(slash);
  }
  // Wildcards take the registry's host without its port: a.b.example.com gives
  // *.b.example.com, *.example.com and *.com.
  std::string host = ScopeRegistry(ref.registry);
  if (host.front() != '[') host = host.substr(0, host.find(':'));
  for (size_t dot = host.find('.'); dot != std::string::npos; dot = host.find('.', dot + 1)) {
    scopes.push_back("*." + host.substr(dot + 1));
  }
  return scopes;
}

PolicyScope TrustPolicy::ScopeFor(const Reference& ref) const {
  auto lookup = [this](const std::string& scope) -> const std::vector<Requirement>* {
    for (const auto& [name, requirements] : docker_) {
      if (name == scope) return &requirements;
    }
    return nullptr;
  };
  for (const std::string& scope : PolicyScopesOf(ref)) {
    if (const auto* found = lookup(scope)) return {"transports.docker \"" + scope + "\"", found};
  }
  if (const auto* found = lookup("")) return {"transports.docker \"\"", found};
  return {"default", &default_};
}

}  // namespace banger::broker
