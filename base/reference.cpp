#include "base/reference.h"

#include <algorithm>
#include <cctype>

#include "base/digest.h"

namespace banger {
namespace {

constexpr size_t kMaxNameLength = 255;

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlnum(char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }

// [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
bool IsPathComponent(std::string_view s) {
  if (s.empty() || !IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  for (size_t i = 0; i < s.size();) {
    if (IsLowerAlnum(s[i])) {
      ++i;
      continue;
    }
    size_t run = i;
    while (run < s.size() && !IsLowerAlnum(s[run])) ++run;
    std::string_view sep = s.substr(i, run - i);
    bool dashes = sep.find_first_not_of('-') == std::string_view::npos;
    if (!(sep == "." || sep == "_" || sep == "__" || dashes)) return false;
    i = run;
  }
  return true;
}

// [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
bool IsTag(std::string_view s) {
  if (s.empty() || s.size() > 128 || !(IsAlnum(s[0]) || s[0] == '_')) return false;
  for (char c : s) {
    if (!(IsAlnum(c) || c == '_' || c == '.' || c == '-')) return false;
  }
  return true;
}

bool IsPort(std::string_view s) {
  if (s.empty() || s.size() > 5) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// A DNS name, "localhost", an IPv4 address, or [IPv6], each with an optional :port.
bool IsRegistryHost(std::string_view s) {
  std::string_view host = s;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos || close < 3) return false;
    for (char c : s.substr(1, close - 1)) {
      if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.')) return false;
    }
    std::string_view rest = s.substr(close + 1);
    return rest.empty() || (rest[0] == ':' && IsPort(rest.substr(1)));
  }
  if (size_t colon = s.rfind(':'); colon != std::string_view::npos) {
    if (!IsPort(s.substr(colon + 1))) return false;
    host = s.substr(0, colon);
  }
  if (host.empty() || host.size() > 253) return false;
  size_t start = 0;
  while (start <= host.size()) {
    size_t dot = host.find('.', start);
    std::string_view label = host.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || !IsAlnum(label.front()) || !IsAlnum(label.back())) return false;
    for (char c : label) {
      if (!(IsAlnum(c) || c == '-')) return false;
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

Error Invalid(std::string_view text, const std::string& why) {
  return Error{ErrorCode::kInvalidArgument, "invalid reference '" + std::string(text.substr(0, 300)) + "': " + why};
}

}  // namespace

bool IsValidTag(std::string_view tag) { return IsTag(tag); }

Result<std::string> CanonicalRegistryHost(std::string_view text, const std::string& what) {
  if (!IsRegistryHost(text)) {
    std::string hint;
    if (text.find("://") != std::string_view::npos) hint = " (without the scheme: " + std::string(text.substr(text.find("://") + 3)) + ")";
    if (text.find('/') != std::string_view::npos && hint.empty()) hint = " (a registry is host[:port], not a path or a range)";
    return Error{ErrorCode::kInvalidArgument, what + " wants a registry host[:port], not '" + std::string(text) + "'" + hint};
  }
  std::string host(text);
  for (char& c : host) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return host;
}

bool IsLoopbackHost(std::string_view host_and_port) {
  std::string_view host = host_and_port;
  if (!host.empty() && host.front() == '[') {
    return host.substr(0, 5) == "[::1]";
  }
  if (size_t colon = host.rfind(':'); colon != std::string_view::npos) host = host.substr(0, colon);
  if (host == "localhost") return true;
  if (host.substr(0, 4) != "127.") return false;
  int dots = 0;
  for (char c : host) {
    if (c == '.') {
      ++dots;
    } else if (c < '0' || c > '9') {
      return false;
    }
  }
  return dots == 3;
}

Result<Reference> ParseReference(std::string_view text) {
  // skopeo's and crane's transport prefix for a registry is understood; their others are
  // not banger's, and a URL is not a reference.
  if (text.starts_with("docker://")) text.remove_prefix(9);
  if (text.starts_with("http://") || text.starts_with("https://")) {
    return Invalid(text, "a reference has no scheme: [registry/]repository[:tag|@digest]");
  }
  for (std::string_view transport : {"oci:", "oci-archive:", "docker-archive:", "docker-daemon:", "containers-storage:",
                                     "dir:", "sif:"}) {
    // "oci:5000/app" is a registry with a port, "oci:latest" Docker Hub's oci at a tag: a
    // transport is followed by a path.
    const std::string_view rest = text.substr(std::min(text.size(), transport.size()));
    const bool port = !rest.empty() && std::isdigit(static_cast<unsigned char>(rest[0]));
    if (text.starts_with(transport) && !port && rest.find('/') != std::string_view::npos) {
      return Invalid(text, "'" + std::string(transport) + "' is a skopeo transport; banger pulls from registries only");
    }
  }
  if (text.empty()) return Invalid(text, "empty");
  for (char c : text) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return Invalid(text, "contains whitespace or control characters");
  }
  Reference ref;
  std::string_view name = text;
  if (size_t at = name.find('@'); at != std::string_view::npos) {
    ref.digest = std::string(name.substr(at + 1));
    name = name.substr(0, at);
    if (ref.digest.substr(0, 7) != "sha256:") return Invalid(text, "only sha256 digests are supported");
    if (!IsValidDigest(ref.digest)) return Invalid(text, "the digest must be sha256: and 64 lowercase hex digits");
  }
  // A tag follows the last ':' that comes after the last '/' (a registry port comes before it).
  size_t last_slash = name.rfind('/');
  size_t colon = name.rfind(':');
  if (colon != std::string_view::npos && (last_slash == std::string_view::npos || colon > last_slash)) {
    ref.tag = std::string(name.substr(colon + 1));
    name = name.substr(0, colon);
    if (!IsTag(ref.tag)) return Invalid(text, "tag '" + ref.tag + "' is not valid");
  }
  if (name.empty()) return Invalid(text, "no repository name");
  if (name.size() > kMaxNameLength) return Invalid(text, "name longer than 255 characters");

  std::string_view path = name;
  size_t first_slash = name.find('/');
  if (first_slash != std::string_view::npos) {
    std::string_view first = name.substr(0, first_slash);
    if (first.find('.') != std::string_view::npos || first.find(':') != std::string_view::npos ||
        first == "localhost" || (!first.empty() && first.front() == '[')) {
      if (!IsRegistryHost(first)) return Invalid(text, "registry host '" + std::string(first) + "' is not valid");
      // Host names are not case-sensitive: one spelling, so that every rule keyed by the
      // registry (a signature policy's scope, insecure_registries, mirrors) sees it.
      ref.registry = std::string(first);
      for (char& c : ref.registry) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
      path = name.substr(first_slash + 1);
    }
  }
  if (ref.registry.empty() || ref.registry == "index.docker.io" || ref.registry == "registry-1.docker.io") {
    ref.registry = "docker.io";
  }
  if (path.empty()) return Invalid(text, "no repository name");
  for (size_t start = 0;;) {
    size_t slash = path.find('/', start);
    std::string_view component = path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (!IsPathComponent(component)) {
      bool upper = false;
      for (char c : component) upper |= (c >= 'A' && c <= 'Z');
      return Invalid(text, upper ? "repository names must be lowercase"
                                 : "repository component '" + std::string(component) + "' is not valid");
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  ref.repository = std::string(path);
  if (ref.registry == "docker.io" && ref.repository.find('/') == std::string::npos) {
    ref.repository = "library/" + ref.repository;
  }
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
  return ref;
}

std::string Reference::String() const {
  std::string out = registry + "/" + repository;
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

std::string Reference::ApiHost() const { return registry == "docker.io" ? "registry-1.docker.io" : registry; }

bool Reference::IsLoopback() const { return IsLoopbackHost(registry); }

std::string Reference::DefaultImageName() const {
  // The repository's path keeps its namespace (demo/busybox is not other/busybox); only
  // Docker Hub's "library/" goes, as docker drops it when it shows a name.
  std::string base = registry == "docker.io" && repository.rfind("library/", 0) == 0 ? repository.substr(8) : repository;
  std::replace(base.begin(), base.end(), '/', '-');
  if (!tag.empty()) return base + "-" + tag;
  return base + "-" + digest.substr(kSha256Prefix.size(), 12);
}

}  // namespace banger
