// Image references with Docker's rules: "alpine" is docker.io/library/alpine:latest,
// "host:port/repo:tag", "repo@sha256:..." (with tag and digest, the digest wins).
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace banger {

struct Reference {
  std::string registry;    // "docker.io", "ghcr.io", "127.0.0.1:5000", "[::1]:5000"
  std::string repository;  // "library/alpine"
  std::string tag;         // "latest" when neither tag nor digest was given
  std::string digest;      // "sha256:..." or empty

  // The reference in canonical form: registry/repository[:tag][@digest].
  std::string String() const;
  // What to ask the registry for: the digest when there is one, else the tag.
  std::string ManifestSelector() const { return digest.empty() ? tag : digest; }
  // Host (and port) the v2 API is served from: docker.io is registry-1.docker.io.
  std::string ApiHost() const;
  // localhost, 127.0.0.0/8 or ::1: plain HTTP is allowed there, as docker allows it.
  bool IsLoopback() const;
  // The image name a pull gets by default: docker.io/library/debian:bookworm ->
  // "debian-bookworm", ghcr.io/org/app:1 -> "org-app-1" (the registry is not in it); a
  // digest-only reference uses the first 12 hex digits.
  std::string DefaultImageName() const;
};

// A malformed reference is a kInvalidArgument error naming what is wrong.
Result<Reference> ParseReference(std::string_view text);

// A registry as a flag or the config names one (`host[:port]`: a DNS name, localhost,
// IPv4, or [IPv6]), lowercase as ParseReference spells it, so that it matches the
// references it is meant for; a URL, a path or a range is an error naming `what`.
Result<std::string> CanonicalRegistryHost(std::string_view text, const std::string& what);

// [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}: what docker accepts as a tag.
bool IsValidTag(std::string_view tag);

// Whether a "host[:port]" names the loopback interface.
bool IsLoopbackHost(std::string_view host_and_port);

}  // namespace banger
