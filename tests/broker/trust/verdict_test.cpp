// The verdict on an image's signatures: accepted only by a signature that verifies with a
// policy key over the exact payload, whose strictly parsed payload names this image's
// digest and an identity the policy accepts; every other case refused, naming why.
#include "broker/trust/verdict.h"

#include <gtest/gtest.h>

#include "broker/trust/signed_identity.h"
#include "broker/trust/simple_signing.h"
#include "tests/broker/trust/test_keys.h"

namespace banger::broker {
namespace {

using testing::SimpleSigningPayload;
using testing::TestKey;

const std::string kDigest = "sha256:" + std::string(64, 'a');
const std::string kOtherDigest = "sha256:" + std::string(64, 'b');

class VerdictTest : public ::testing::Test {
 protected:
  TrustPolicy PolicyWith(const std::string& docker_scopes) {
    auto policy = TrustPolicy::Parse(R"({"default": [{"type": "reject"}], "transports": {"docker": {)" + docker_scopes + "}}}",
                                     "policy.json", [](const std::string&) -> Result<std::string> { return std::string(); });
    if (!policy) throw std::runtime_error(policy.error().message);
    return std::move(*policy);
  }
  TrustPolicy SignedPolicy(const std::string& identity = "") {
    return PolicyWith(R"("registry.example.com/app": [{"type": "sigstoreSigned", "keyData": ")" + key_.PublicPemBase64() +
                      R"(")" + (identity.empty() ? "" : R"(, "signedIdentity": )" + identity) + "}]");
  }
  SignatureCandidate Signed(const std::string& payload, const TestKey& key) {
    return {.where = "sha256-aaaa.sig layer " + std::to_string(++layer_), .payload = payload, .signature = key.Sign(payload)};
  }
  TrustVerdict Evaluate(const TrustPolicy& policy, const std::vector<SignatureCandidate>& signatures,
                        const std::string& reference = "registry.example.com/app:v1") {
    return EvaluateTrust(policy, *ParseReference(reference), {kDigest}, signatures);
  }

  TestKey key_{"ecdsa-p256"};
  int layer_ = 0;
};

TEST_F(VerdictTest, AcceptsASignatureByThePolicysKeyForThisDigestAndIdentity) {
  const TrustVerdict verdict =
      Evaluate(SignedPolicy(), {Signed(SimpleSigningPayload("registry.example.com/app:v1", kDigest), key_)});
  EXPECT_TRUE(verdict.accepted) << verdict.reason;
  EXPECT_EQ(verdict.scope, R"(transports.docker "registry.example.com/app")");
  EXPECT_EQ(verdict.requirements, "sigstoreSigned");
  EXPECT_EQ(verdict.signed_identity, "registry.example.com/app:v1");
  EXPECT_EQ(verdict.key_fingerprint, PublicKey::FromPem(key_.PublicPem(), "")->fingerprint());
  EXPECT_EQ(verdict.ToJson()["key_fingerprint"], verdict.key_fingerprint);
  EXPECT_EQ(verdict.signed_digest, kDigest);
}

TEST_F(VerdictTest, ASignatureOfTheIndexOrOfThePlatformsManifestServes) {
  const std::string index = "sha256:" + std::string(64, 'e');
  const TrustPolicy policy = SignedPolicy();
  const auto ref = *ParseReference("registry.example.com/app:v1");
  const TrustVerdict by_index =
      EvaluateTrust(policy, ref, {kDigest, index}, {Signed(SimpleSigningPayload("registry.example.com/app:v1", index), key_)});
  EXPECT_TRUE(by_index.accepted) << by_index.reason;
  EXPECT_EQ(by_index.signed_digest, index);
  const TrustVerdict neither = EvaluateTrust(
      policy, ref, {kDigest, index}, {Signed(SimpleSigningPayload("registry.example.com/app:v1", kOtherDigest), key_)});
  EXPECT_FALSE(neither.accepted);
  EXPECT_NE(neither.reason.find("not this image's " + kDigest + " or " + index), std::string::npos) << neither.reason;
}

TEST_F(VerdictTest, RefusesEachWayASignatureCanFailByName) {
  const std::string good = SimpleSigningPayload("registry.example.com/app:v1", kDigest);
  struct Case {
    const char* what;
    std::vector<SignatureCandidate> signatures;
    std::string reason;
  };
  std::string tampered = good;
  tampered.replace(tampered.find(":v1"), 3, ":v2");
  SignatureCandidate tampered_signature = Signed(good, key_);
  tampered_signature.payload = tampered;
  const std::vector<Case> cases = {
      {"unsigned", {}, "the image has no signature, and sigstoreSigned needs one"},
      {"wrong key", {Signed(good, TestKey("ecdsa-p256"))}, "no signature verifies with the policy's key (SHA256:"},
      {"tampered payload", {tampered_signature}, "no signature verifies with the policy's key"},
      {"image A's signature on image B",
       {Signed(SimpleSigningPayload("registry.example.com/app:v1", kOtherDigest), key_)},
       "sha256-aaaa.sig layer 3 signs " + kOtherDigest + ", not this image's " + kDigest},
      {"another identity",
       {Signed(SimpleSigningPayload("registry.example.com/other:v1", kDigest), key_)},
       R"(the signature is for "registry.example.com/other:v1", and matchRepoDigestOrExact wants registry.example.com/app:v1)"},
      {"a verified payload that is not simple signing",
       {Signed(R"({"critical":{},"optional":null,"extra":1})", key_)},
       R"(the signed payload is not a cosign simple signing document: the document has the unknown key "extra")"},
  };
  for (const Case& c : cases) {
    const TrustVerdict verdict = Evaluate(SignedPolicy(), c.signatures);
    EXPECT_FALSE(verdict.accepted) << c.what;
    EXPECT_NE(verdict.reason.find(c.reason), std::string::npos) << c.what << ": " << verdict.reason;
    EXPECT_TRUE(verdict.key_fingerprint.empty() && verdict.signed_identity.empty()) << c.what;
  }
}

TEST_F(VerdictTest, OneGoodSignatureAmongBadOnesIsEnoughAndTheReasonIsTheFurthestReached) {
  const std::string good = SimpleSigningPayload("registry.example.com/app:v1", kDigest);
  const TestKey stranger("ed25519");
  EXPECT_TRUE(Evaluate(SignedPolicy(), {Signed(good, stranger), Signed(good, key_)}).accepted);
  const TrustVerdict refused = Evaluate(
      SignedPolicy(), {Signed(good, stranger), Signed(SimpleSigningPayload("registry.example.com/app:v1", kOtherDigest), key_)});
  EXPECT_FALSE(refused.accepted);
  EXPECT_NE(refused.reason.find("signs " + kOtherDigest), std::string::npos) << refused.reason;
}

TEST_F(VerdictTest, MoreThanAHundredSignaturesAreRefusedUnread) {
  std::vector<SignatureCandidate> many(kMaxSignatures + 1,
                                       Signed(SimpleSigningPayload("registry.example.com/app:v1", kDigest), key_));
  const TrustVerdict verdict = Evaluate(SignedPolicy(), many);
  EXPECT_FALSE(verdict.accepted);
  EXPECT_EQ(verdict.reason, "the image has 101 signatures, more than the 100 banger reads");
  many.pop_back();
  EXPECT_TRUE(Evaluate(SignedPolicy(), many).accepted);
}

TEST_F(VerdictTest, RejectAcceptAnythingAndEveryRequirementOfAScope) {
  const TrustPolicy policy = PolicyWith(R"("open.example.com": [{"type": "insecureAcceptAnything"}],
      "both.example.com": [{"type": "insecureAcceptAnything"}, {"type": "sigstoreSigned", "keyData": ")" +
                                        key_.PublicPemBase64() + R"("}])");
  const TrustVerdict open = Evaluate(policy, {}, "open.example.com/app:1");
  EXPECT_TRUE(open.accepted);
  EXPECT_EQ(open.requirements, "insecureAcceptAnything");
  const TrustVerdict rejected = Evaluate(policy, {Signed(SimpleSigningPayload("elsewhere.io/app:1", kDigest), key_)},
                                         "elsewhere.io/app:1");
  EXPECT_FALSE(rejected.accepted);
  EXPECT_EQ(rejected.scope, "default");
  EXPECT_EQ(rejected.reason, "the policy rejects every image in this scope");
  const TrustVerdict both = Evaluate(policy, {}, "both.example.com/app:1");
  EXPECT_FALSE(both.accepted) << "insecureAcceptAnything does not excuse the sigstoreSigned beside it";
  EXPECT_EQ(both.requirements, "insecureAcceptAnything, sigstoreSigned");
  EXPECT_TRUE(ScopeNeedsSignatures(policy.ScopeFor(*ParseReference("both.example.com/app:1"))));
  EXPECT_FALSE(ScopeNeedsSignatures(policy.ScopeFor(*ParseReference("open.example.com/app:1"))));
  EXPECT_FALSE(ScopeNeedsSignatures(policy.ScopeFor(*ParseReference("elsewhere.io/app:1"))));
}

TEST(SignedIdentity, EachRuleAcceptsWhatContainersImageAccepts) {
  auto check = [](const SignedIdentity& identity, const std::string& image, const std::string& signed_reference) {
    return MatchSignedIdentity(identity, *ParseReference(image), signed_reference).ok();
  };
  const std::string digest = "@sha256:" + std::string(64, 'c');
  SignedIdentity rule;  // matchRepoDigestOrExact
  EXPECT_TRUE(check(rule, "quay.io/a/app:1", "quay.io/a/app:1"));
  EXPECT_FALSE(check(rule, "quay.io/a/app:1", "quay.io/a/app:2"));
  EXPECT_FALSE(check(rule, "quay.io/a/app:latest", "quay.io/a/app")) << "no tag is not :latest";
  EXPECT_TRUE(check(rule, "quay.io/a/app" + digest, "quay.io/a/app:anything"));
  EXPECT_FALSE(check(rule, "quay.io/a/app" + digest, "quay.io/a/app")) << "a repository alone matches nothing here";
  EXPECT_FALSE(check(rule, "quay.io/a/app" + digest, "quay.io/a/other:1"));
  EXPECT_FALSE(check(rule, "quay.io/a/app:1" + digest, "quay.io/a/app:2")) << "tag and digest: exactly";
  EXPECT_TRUE(check(rule, "quay.io/a/app:1" + digest, "quay.io/a/app:1" + digest));
  EXPECT_TRUE(check(rule, "busybox:1", "docker.io/library/busybox:1")) << "docker's normalization";
  EXPECT_FALSE(check(rule, "busybox:1", "not a reference!"));
  rule.rule = IdentityRule::kMatchExact;
  EXPECT_TRUE(check(rule, "quay.io/a/app:1", "quay.io/a/app:1"));
  EXPECT_FALSE(check(rule, "quay.io/a/app" + digest, "quay.io/a/app:1"));
  rule.rule = IdentityRule::kMatchRepository;
  EXPECT_TRUE(check(rule, "quay.io/a/app:1", "quay.io/a/app:2"));
  EXPECT_TRUE(check(rule, "quay.io/a/app:1", "quay.io/a/app")) << "cosign's own identity";
  EXPECT_FALSE(check(rule, "quay.io/a/app:1", "quay.io/b/app:1"));
  rule = {IdentityRule::kExactReference, "quay.io/a/app:stable", "", "", ""};
  EXPECT_TRUE(check(rule, "mirror.local/anything:1", "quay.io/a/app:stable"));
  EXPECT_FALSE(check(rule, "mirror.local/anything:1", "quay.io/a/app:1"));
  rule = {IdentityRule::kExactRepository, "", "quay.io/a/app", "", ""};
  EXPECT_TRUE(check(rule, "mirror.local/anything:1", "quay.io/a/app:7"));
  EXPECT_FALSE(check(rule, "mirror.local/anything:1", "quay.io/a/app2:7"));
  rule = {IdentityRule::kRemapIdentity, "", "", "mirror.local/quay", "quay.io"};
  EXPECT_TRUE(check(rule, "mirror.local/quay/a/app:1", "quay.io/a/app:1"));
  EXPECT_FALSE(check(rule, "mirror.local/quay/a/app:1", "mirror.local/quay/a/app:1")) << "remapped, the old name is not it";
  EXPECT_FALSE(check(rule, "mirror.local/quayx/a/app:1", "quay.io/x/a/app:1")) << "the prefix ends at a '/'";
  EXPECT_TRUE(check(rule, "mirror.local/other/app:1", "mirror.local/other/app:1")) << "outside the prefix: as it is";
}

TEST(SimpleSigning, ParsesCosignsPayloadAndNothingLooser) {
  const std::string digest = "sha256:" + std::string(64, 'd');
  auto good = ParseSimpleSigning(SimpleSigningPayload("quay.io/a/app:1", digest));
  ASSERT_TRUE(good) << good.error().message;
  EXPECT_EQ(good->docker_reference, "quay.io/a/app:1");
  EXPECT_EQ(good->manifest_digest, digest);
  const std::string critical = R"({"identity":{"docker-reference":"q.io/a:1"},"image":{"docker-manifest-digest":")" + digest +
                               R"("},"type":"cosign container image signature"})";
  EXPECT_TRUE(ParseSimpleSigning(R"({"critical":)" + critical + R"(,"optional":{"creator":"cosign","x":[1]}})"));
  const std::vector<std::pair<std::string, std::string>> refused = {
      {R"({"critical":)" + critical + "}", R"(the document lacks "optional")"},
      {R"({"critical":)" + critical + R"(,"optional":"x"})", R"("optional" is neither null nor an object)"},
      {R"({"critical":)" + critical + R"(,"optional":{"creator":1}})", "optional.creator is not a string"},
      {R"({"critical":)" + critical + R"(,"optional":null,"critical":)" + critical + "}",
       R"(the key "critical" appears twice)"},
      {R"({"critical":{"identity":{"docker-reference":"q.io/a:1"},"identity":{"docker-reference":"q.io/b:1"},"image":{"docker-manifest-digest":")" +
           digest + R"("},"type":"cosign container image signature"},"optional":null})",
       R"(the key "identity" appears twice)"},
      {R"({"critical":{"identity":{"docker-reference":"q.io/a:1"},"image":{"docker-manifest-digest":")" + digest +
           R"("},"type":"cosign container image signature","extra":1},"optional":null})",
       R"(critical has the unknown key "extra")"},
      {R"({"critical":{"identity":{"docker-reference":"q.io/a:1","tag":"x"},"image":{"docker-manifest-digest":")" + digest +
           R"("},"type":"cosign container image signature"},"optional":null})",
       R"(critical.identity has the unknown key "tag")"},
      {R"({"critical":{"identity":{"docker-reference":"q.io/a:1"},"image":{"docker-manifest-digest":")" + digest +
           R"("},"type":"atomic container signature"},"optional":null})",
       R"(critical.type is "atomic container signature")"},
      {R"({"critical":{"identity":{"docker-reference":"q.io/a:1"},"image":{"docker-manifest-digest":"sha256:abc"},"type":"cosign container image signature"},"optional":null})",
       R"(critical.image.docker-manifest-digest "sha256:abc" is not a sha256 digest)"},
      {R"({"critical":{"identity":{"docker-reference":7},"image":{"docker-manifest-digest":")" + digest +
           R"("},"type":"cosign container image signature"},"optional":null})",
       "critical.identity.docker-reference is not a string"},
      {"[]", "the document is not an object"},
      {std::string(kMaxSimpleSigningBytes + 1, ' '), "larger than 64 KiB"},
  };
  for (const auto& [payload, why] : refused) {
    auto parsed = ParseSimpleSigning(payload);
    ASSERT_FALSE(parsed) << payload;
    EXPECT_NE(parsed.error().message.find(why), std::string::npos) << payload << "\n  gave: " << parsed.error().message;
  }
}

}  // namespace
}  // namespace banger::broker
