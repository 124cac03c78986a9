// The trust policy: containers-policy.json's docker scopes, looked up from the most
// specific, every key checked, and what banger cannot verify never accepting.
#include "broker/trust/trust_policy.h"

#include <map>

#include <gtest/gtest.h>

#include "tests/broker/trust/test_keys.h"

namespace banger::broker {
namespace {

using testing::TestKey;

class TrustPolicyTest : public ::testing::Test {
 protected:
  Result<TrustPolicy> Parse(const std::string& text) {
    return TrustPolicy::Parse(text, "policy.json", [this](const std::string& path) -> Result<std::string> {
      auto found = files_.find(path);
      if (found == files_.end()) return Error{ErrorCode::kNotFound, "open " + path + ": No such file or directory"};
      return found->second;
    });
  }
  std::string ScopeOf(const TrustPolicy& policy, const std::string& reference) {
    auto ref = ParseReference(reference);
    if (!ref) return "bad reference";
    return policy.ScopeFor(*ref).name;
  }
  std::string ParseError(const std::string& text) {
    auto parsed = Parse(text);
    return parsed ? "parsed" : parsed.error().message;
  }

  TestKey key_{"ecdsa-p256"};
  std::map<std::string, std::string> files_ = {{"/etc/banger/cosign.pub", key_.PublicPem()}};
};

TEST_F(TrustPolicyTest, TheMostSpecificScopeWins) {
  const std::string accept = R"([{"type": "insecureAcceptAnything"}])";
  auto policy = Parse(R"({"default": [{"type": "reject"}], "transports": {"docker": {
      "docker.io/library/busybox:1.36": )" + accept + R"(,
      "docker.io/library/busybox": )" + accept + R"(,
      "docker.io/library": )" + accept + R"(,
      "ghcr.io": )" + accept + R"(,
      "*.example.com": )" + accept + R"(,
      "registry.example.com:5000/team": )" + accept + R"(,
      "": )" + accept + R"(},
    "docker-daemon": {"": [{"type": "reject"}]}}})");
  ASSERT_TRUE(policy) << policy.error().message;
  EXPECT_EQ(ScopeOf(*policy, "busybox:1.36"), R"(transports.docker "docker.io/library/busybox:1.36")");
  EXPECT_EQ(ScopeOf(*policy, "busybox:1.35"), R"(transports.docker "docker.io/library/busybox")");
  EXPECT_EQ(ScopeOf(*policy, "busybox@sha256:" + std::string(64, 'a')), R"(transports.docker "docker.io/library/busybox")");
  EXPECT_EQ(ScopeOf(*policy, "alpine"), R"(transports.docker "docker.io/library")");
  EXPECT_EQ(ScopeOf(*policy, "ghcr.io/a/b/c:1"), R"(transports.docker "ghcr.io")");
  EXPECT_EQ(ScopeOf(*policy, "registry.example.com:5000/team/app"), R"(transports.docker "registry.example.com:5000/team")");
  EXPECT_EQ(ScopeOf(*policy, "registry.example.com:5000/other/app"), R"(transports.docker "*.example.com")")
      << "a wildcard takes the host without its port";
  EXPECT_EQ(ScopeOf(*policy, "quay.io/x/y"), R"(transports.docker "")");
  EXPECT_EQ(ScopeOf(*policy, "example.com/app"), R"(transports.docker "")") << "*.example.com is not example.com";
  // Other spellings of the same registry find the same scope.
  EXPECT_EQ(ScopeOf(*policy, "GHCR.IO/team/app:1"), R"(transports.docker "ghcr.io")");
  EXPECT_EQ(ScopeOf(*policy, "ghcr.io:443/team/app:1"), R"(transports.docker "ghcr.io")");
  EXPECT_EQ(ScopeOf(*policy, "registry-1.docker.io:443/library/busybox:1.36"),
            R"(transports.docker "docker.io/library/busybox:1.36")");
  EXPECT_EQ(ScopeOf(*policy, "Index.Docker.IO/library/alpine"), R"(transports.docker "docker.io/library")");

  auto bare = Parse(R"({"default": [{"type": "reject"}]})");
  ASSERT_TRUE(bare);
  EXPECT_EQ(ScopeOf(*bare, "alpine"), "default");
}

TEST_F(TrustPolicyTest, TheScopesOfAReferenceInOrder) {
  auto ref = ParseReference("a.b.example.com:5000/ns/sub/app:v1");
  ASSERT_TRUE(ref);
  EXPECT_EQ(PolicyScopesOf(*ref),
            (std::vector<std::string>{"a.b.example.com:5000/ns/sub/app:v1", "a.b.example.com:5000/ns/sub/app",
                                      "a.b.example.com:5000/ns/sub", "a.b.example.com:5000/ns", "a.b.example.com:5000",
                                      "*.b.example.com", "*.example.com", "*.com"}));
}

TEST_F(TrustPolicyTest, SigstoreSignedReadsItsKeysAndIdentity) {
  auto policy = Parse(R"({"default": [{"type": "reject"}], "transports": {"docker": {
      "ghcr.io/team": [{"type": "sigstoreSigned", "keyPath": "/etc/banger/cosign.pub",
                        "signedIdentity": {"type": "remapIdentity", "prefix": "ghcr.io/team", "signedPrefix": "quay.io/team"}}],
      "quay.io": [{"type": "sigstoreSigned", "keyDatas": [")" + key_.PublicPemBase64() + R"(", ")" +
                      TestKey("ed25519").PublicPemBase64() + R"("]}]}}})");
  ASSERT_TRUE(policy) << policy.error().message;
  auto team = ParseReference("ghcr.io/team/app:1");
  const PolicyScope scope = policy->ScopeFor(*team);
  ASSERT_EQ(scope.requirements->size(), 1u);
  const Requirement& signed_by = scope.requirements->at(0);
  EXPECT_EQ(signed_by.kind, Requirement::Kind::kSigstoreSigned);
  ASSERT_EQ(signed_by.keys.size(), 1u);
  EXPECT_EQ(signed_by.keys[0]->source(), "/etc/banger/cosign.pub");
  EXPECT_EQ(signed_by.identity.Describe(), "remapIdentity ghcr.io/team -> quay.io/team");
  auto quay = ParseReference("quay.io/x/y:2");
  const Requirement& two_keys = policy->ScopeFor(*quay).requirements->at(0);
  ASSERT_EQ(two_keys.keys.size(), 2u);
  EXPECT_EQ(two_keys.keys[1]->kind(), "ed25519");
  EXPECT_EQ(two_keys.identity.Describe(), "matchRepoDigestOrExact") << "the default";
}

TEST_F(TrustPolicyTest, WhatBangerCannotVerifyIsARequirementThatNeverAccepts) {
  auto policy = Parse(R"({"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k.gpg"}],
      "transports": {"docker": {
        "fulcio.example.com": [{"type": "sigstoreSigned", "fulcio": {"caPath": "/ca.pem"}}],
        "rekor.example.com": [{"type": "sigstoreSigned", "keyPath": "/etc/banger/cosign.pub", "rekorPublicKeyPath": "/rekor.pub"}]}}})");
  ASSERT_TRUE(policy) << policy.error().message;
  auto check = [&](const std::string& reference, const std::string& why) {
    const PolicyScope scope = policy->ScopeFor(*ParseReference(reference));
    ASSERT_EQ(scope.requirements->size(), 1u);
    EXPECT_EQ(scope.requirements->at(0).kind, Requirement::Kind::kUnsupported) << reference;
    EXPECT_NE(scope.requirements->at(0).unsupported.find(why), std::string::npos) << scope.requirements->at(0).unsupported;
  };
  check("alpine", "signedBy (GPG simple signing) is not verified by banger");
  check("fulcio.example.com/app", "fulcio (keyless) is not verified by banger");
  check("rekor.example.com/app", "rekorPublicKeyPath asks for a Rekor entry");
}

TEST_F(TrustPolicyTest, EveryMistakeIsRefusedNamingWhereItIs) {
  const std::map<std::string, std::string> cases = {
      {R"({"transports": {}})", R"(signature policy policy.json: the top level: "default" is required)"},
      {R"({"default": [], "x": 1})", R"(signature policy policy.json: the top level: unknown key "x")"},
      {R"({"default": []})", "signature policy policy.json: default: must be a non-empty list of requirements"},
      {R"({"default": [{"type": "reject", "keyPath": "/k"}]})", R"(default [0]: unknown key "keyPath")"},
      {R"({"default": [{"type": "acceptAll"}]})", R"(default [0]: unknown requirement type "acceptAll")"},
      {R"({"default": [{"type": "sigstoreSigned"}]})", "default [0]: sigstoreSigned needs exactly one of keyPath"},
      {R"({"default": [{"type": "sigstoreSigned", "keyPath": "/etc/banger/cosign.pub", "keyData": "eA=="}]})",
       "sigstoreSigned needs exactly one of"},
      {R"({"default": [{"type": "sigstoreSigned", "keyPath": "cosign.pub"}]})",
       R"(default [0]: keyPath "cosign.pub" is not an absolute path)"},
      {R"({"default": [{"type": "sigstoreSigned", "keyPath": "/nowhere.pub"}]})",
       "default [0]: open /nowhere.pub: No such file or directory"},
      {R"({"default": [{"type": "sigstoreSigned", "keyData": "not base64!"}]})", "default [0]: keyData is not base64"},
      {R"({"default": [{"type": "sigstoreSigned", "keyPaths": []}]})", R"("keyPaths" must be a list of 1 to 64 strings)"},
      {R"({"default": [{"type": "sigstoreSigned", "keyPaths": "/etc/banger/cosign.pub"}]})", R"("keyPaths" must be a list of 1 to 64 strings)"},
      {R"({"default": [{"type": "sigstoreSigned", "keyDatas": ["eA==", 1]}]})", R"("keyDatas" must hold strings)"},
      {R"({"default": [{"type": "sigstoreSigned", "keyData": ["eA=="]}]})", R"("keyData" must be a string)"},
      {R"({"default": [{"type": "sigstoreSigned", "keyData": "eA==", "namelessBundles": true}]})",
       R"(default [0]: "namelessBundles" must be "accept" or "refuse")"},
      {R"({"default": [{"type": "sigstoreSigned", "keyData": "eA==", "namelessBundles": "accept"}]})",
       R"(needs a signedIdentity that pins no tag (matchRepository or exactRepository), as a nameless bundle pins none; not matchRepoDigestOrExact)"},
      {R"({"default": [{"type": "sigstoreSigned", "keyData": "eA==", "namelessBundles": "accept", "signedIdentity": {"type": "exactReference", "dockerReference": "r.io/app:1"}}]})",
       R"(a nameless bundle pins none; not exactReference r.io/app:1)"},
      {R"({"default": [{"type": "sigstoreSigned", "keyPath": "/etc/banger/cosign.pub", "signedIdentity": {"type": "matchAnything"}}]})",
       R"(default [0] signedIdentity: unknown signedIdentity type "matchAnything")"},
      {R"({"default": [{"type": "sigstoreSigned", "keyPath": "/etc/banger/cosign.pub", "signedIdentity": {"type": "exactReference", "dockerReference": "busybox:1"}}]})",
       R"(dockerReference "busybox:1" must be a full reference with a tag or digest)"},
      {R"({"default": [{"type": "sigstoreSigned", "keyPath": "/etc/banger/cosign.pub", "signedIdentity": {"type": "exactRepository", "dockerRepository": "docker.io/library/busybox:1"}}]})",
       "must be a full REGISTRY/REPOSITORY, without tag or digest"},
      {R"({"default": [{"type": "sigstoreSigned", "keyPath": "/etc/banger/cosign.pub", "signedIdentity": {"type": "remapIdentity", "prefix": "docker.io/library/busybox:1", "signedPrefix": "quay.io"}}]})",
       "is not host[:port], host[:port]/namespace or a repository"},
      {R"({"default": [{"type": "reject"}], "transports": {"docker": {"docker://alpine": [{"type": "reject"}]}}})",
       R"(transports.docker "docker://alpine": not a docker scope)"},
      {R"({"default": [{"type": "reject"}], "transports": {"docker": {"*.": [{"type": "reject"}]}}})", "a wildcard is *.DOMAIN"},
      // Scopes that could never match: refused, not rules that silently do nothing.
      {R"({"default": [{"type": "reject"}], "transports": {"docker": {"alpine": [{"type": "reject"}]}}})",
       "it must start with the registry"},
      {R"({"default": [{"type": "reject"}], "transports": {"docker": {"library/busybox": [{"type": "reject"}]}}})",
       "it must start with the registry"},
      {R"({"default": [{"type": "reject"}], "transports": {"docker": {"GHCR.IO": [{"type": "reject"}]}}})",
       "scopes are lowercase"},
      {R"({"default": [{"type": "reject"}], "transports": {"docker": {"index.docker.io/library": [{"type": "reject"}]}}})",
       "name the registry as docker.io"},
      {R"({"default": [{"type": "reject"}], "transports": {"docker": {"ghcr.io:443/team": [{"type": "reject"}]}}})",
       "name the registry as ghcr.io"},
      {R"({"default": [{"type": "reject"}], "transports": {"docker": {"docker.io/busybox:1": [{"type": "reject"}]}}})",
       "a scope with a tag or digest is a canonical reference (docker.io/library/busybox:1)"},
      {R"({"default": [{"type": "reject"}], "transports": {"docker": {"ghcr.io": [{"type": "reject"}], "ghcr.io": [{"type": "insecureAcceptAnything"}]}}})",
       R"(the key "ghcr.io" appears twice in one object)"},
      {R"({"default": [{"type": "reject"}], "transports": {"oci": {"": [{"type": "nope"}]}}})",
       R"(transports.oci "" [0]: unknown requirement type "nope")"},
      {"not json", "signature policy policy.json: the file: invalid JSON"},
  };
  for (const auto& [text, expected] : cases) {
    const std::string message = ParseError(text);
    EXPECT_NE(message.find(expected), std::string::npos) << text << "\n  gave: " << message;
  }
}

}  // namespace
}  // namespace banger::broker
