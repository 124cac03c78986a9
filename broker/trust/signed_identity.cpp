#include "broker/trust/signed_identity.h"

#include <optional>

#include "base/text.h"

namespace banger::broker {
namespace {

struct SignedName {
  Reference ref;
  bool versioned = false;  // it names a tag or a digest, not only a repository
};

std::string NameOf(const Reference& ref) { return ref.registry + "/" + ref.repository; }

// The signed docker-reference, normalized as docker normalizes ("busybox" is
// docker.io/library/busybox). Only what it says is compared: a reference without a tag
// is not ":latest".
Result<SignedName> ParseSigned(std::string_view text) {
  auto ref = ParseReference(text);
  if (!ref) return Error{ErrorCode::kInvalidArgument, "the signed identity \"" + Printable(text, 200) + "\" is not a reference"};
  const size_t last_slash = text.rfind('/');
  const std::string_view last = last_slash == std::string_view::npos ? text : text.substr(last_slash + 1);
  return SignedName{*ref, last.find_first_of(":@") != std::string_view::npos};
}

// The canonical form of the image's reference as a signature would name it.
std::string Canonical(const Reference& ref) { return ref.String(); }

Error Mismatch(const SignedIdentity& identity, std::string_view signed_text, const std::string& expected) {
  return Error{ErrorCode::kInvalidArgument, "the signature is for \"" + Printable(signed_text, 200) + "\", and " +
                                                identity.Describe() + " wants " + expected};
}

// As containers/image: a signature naming a repository alone matches nothing here; a
// digest reference (without a tag) takes any signed reference of its repository; any
// other reference, exactly itself.
Result<void> RepoDigestOrExact(const SignedIdentity& identity, const Reference& image, const SignedName& signed_name,
                               std::string_view signed_text) {
  if (!image.digest.empty() && image.tag.empty()) {
    if (signed_name.versioned && NameOf(signed_name.ref) == NameOf(image)) return {};
    return Mismatch(identity, signed_text, "a tag or digest in repository " + NameOf(image));
  }
  if (signed_name.versioned && Canonical(signed_name.ref) == Canonical(image)) return {};
  return Mismatch(identity, signed_text, Canonical(image));
}

// `name` with `prefix` replaced by `replacement`, when `prefix` is all of it or ends at a
// '/' of it.
std::optional<std::string> Remapped(const std::string& name, const std::string& prefix, const std::string& replacement) {
  if (name == prefix) return replacement;
  if (name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0 && name[prefix.size()] == '/') {
    return replacement + name.substr(prefix.size());
  }
  return std::nullopt;
}

}  // namespace

Result<void> MatchSignedIdentity(const SignedIdentity& identity, const Reference& image, std::string_view signed_reference) {
  BANGER_ASSIGN_OR_RETURN(SignedName signed_name, ParseSigned(signed_reference));
  switch (identity.rule) {
    case IdentityRule::kMatchRepoDigestOrExact:
      return RepoDigestOrExact(identity, image, signed_name, signed_reference);
    case IdentityRule::kMatchExact:
      if (signed_name.versioned && Canonical(signed_name.ref) == Canonical(image)) return {};
      return Mismatch(identity, signed_reference, Canonical(image));
    case IdentityRule::kMatchRepository:
      if (NameOf(signed_name.ref) == NameOf(image)) return {};
      return Mismatch(identity, signed_reference, "repository " + NameOf(image));
    case IdentityRule::kExactReference:
      if (signed_name.versioned && Canonical(signed_name.ref) == identity.docker_reference) return {};
      return Mismatch(identity, signed_reference, identity.docker_reference);
    case IdentityRule::kExactRepository:
      if (NameOf(signed_name.ref) == identity.docker_repository) return {};
      return Mismatch(identity, signed_reference, "repository " + identity.docker_repository);
    case IdentityRule::kRemapIdentity: {
      Reference remapped = image;
      if (auto name = Remapped(NameOf(image), identity.prefix, identity.signed_prefix)) {
        // The remapped name is read as a reference again, so docker's rules split it.
        std::string text = *name + (image.digest.empty() ? ":" + image.tag : "@" + image.digest);
        auto parsed = ParseReference(text);
        if (!parsed) return Error{ErrorCode::kInvalidArgument, identity.Describe() + " makes \"" + Printable(text, 200) + "\", not a reference"};
        remapped = *parsed;
      }
      return RepoDigestOrExact(identity, remapped, signed_name, signed_reference);
    }
  }
  return Mismatch(identity, signed_reference, "a known rule");
}

}  // namespace banger::broker
