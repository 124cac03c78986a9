// Sigstore bundles in keyed mode: the envelope read without trusting it, the signature
// checked over DSSE's pre-authentication encoding (the payload type included), and the
// statement read only then, as cosign's signing statement and nothing else.
#include "broker/trust/dsse.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/base64.h"
#include "broker/trust/verdict.h"
#include "tests/broker/trust/test_keys.h"

namespace banger::broker {
namespace {

using nlohmann::json;
using testing::TestKey;

const std::string kSubjectDigest = "sha256:" + std::string(64, 'a');

std::string Statement(const std::string& name, const std::string& digest,
                      const std::string& predicate = std::string(kCosignSignPredicate)) {
  json subject = {{"digest", {{"sha256", digest.substr(7)}}}};
  if (!name.empty()) subject["name"] = name;
  return json{{"_type", kInTotoStatementV1}, {"subject", {subject}}, {"predicateType", predicate}, {"predicate", json::object()}}
      .dump();
}

SignatureCandidate Enveloped(const std::string& statement, const TestKey& key,
                             const std::string& type = std::string(kInTotoPayloadType)) {
  return {.format = SignatureCandidate::Format::kDsse,
          .where = "referrer sha256:b... bundle",
          .payload = statement,
          .signature = key.Sign(PreAuthEncoding(type, statement)),
          .payload_type = type};
}

TEST(Dsse, ThePreAuthenticationEncodingIsTheSpecsExample) {
  EXPECT_EQ(PreAuthEncoding("http://example.com/HelloWorld", "hello world"),
            "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
  EXPECT_EQ(PreAuthEncoding("", ""), "DSSEv1 0  0 ");
}

TEST(Dsse, ABundlesEnvelopeIsReadAndEveryOtherShapeRefused) {
  const std::string statement = Statement("r.io/app", kSubjectDigest);
  json bundle = {{"mediaType", kBundleMediaType},
                 {"verificationMaterial", {{"publicKey", {{"hint", "abc"}}}}},
                 {"dsseEnvelope",
                  {{"payload", EncodeBase64(statement)}, {"payloadType", kInTotoPayloadType}, {"signatures", {{{"sig", EncodeBase64("sig")}}}}}}};
  auto envelope = ParseBundleEnvelope(bundle.dump());
  ASSERT_TRUE(envelope) << envelope.error().message;
  EXPECT_EQ(envelope->payload, statement);
  EXPECT_EQ(envelope->payload_type, kInTotoPayloadType);
  EXPECT_EQ(envelope->signatures, std::vector<std::string>{"sig"});
  auto refused = [](json changed, const std::string& why) {
    auto parsed = ParseBundleEnvelope(changed.dump());
    ASSERT_FALSE(parsed) << changed.dump();
    EXPECT_NE(parsed.error().message.find(why), std::string::npos) << parsed.error().message;
  };
  // The wrapper is unsigned: a field banger does not read changes nothing it checks, and
  // is passed over as @sigstore/bundle passes it over.
  json extra = bundle;
  extra["padding"] = "x";
  extra["dsseEnvelope"]["future"] = {1, 2};
  extra["dsseEnvelope"]["signatures"][0]["also"] = true;
  auto padded = ParseBundleEnvelope(extra.dump());
  ASSERT_TRUE(padded) << padded.error().message;
  EXPECT_EQ(padded->payload, statement);
  json not_object = bundle;
  not_object["dsseEnvelope"]["signatures"][0] = "sig";
  refused(not_object, "signature: not an object");
  json old_version = bundle;
  old_version["mediaType"] = "application/vnd.dev.sigstore.bundle+json;version=0.1";
  refused(old_version, "not a v0.3 bundle's");
  json blob = bundle;
  blob.erase("dsseEnvelope");
  blob["messageSignature"] = json::object();
  refused(blob, "a messageSignature signs a blob, not an image");
  json not_base64 = bundle;
  not_base64["dsseEnvelope"]["payload"] = "not base64!";
  refused(not_base64, "\"payload\" is not base64");
  json no_signatures = bundle;
  no_signatures["dsseEnvelope"]["signatures"] = json::array();
  refused(no_signatures, "other than one signature");
  json two = bundle;
  two["dsseEnvelope"]["signatures"].push_back({{"sig", EncodeBase64("another")}});
  refused(two, "other than one signature");
  EXPECT_FALSE(ParseBundleEnvelope(std::string(kMaxBundleBytes + 1, ' ')));
  EXPECT_FALSE(ParseBundleEnvelope(R"({"mediaType": "a", "mediaType": "b"})")) << "a key twice";
}

class DsseVerdict : public ::testing::Test {
 protected:
  // `more`: further keys of the requirement (", \"namelessBundles\": \"accept\"").
  TrustVerdict Evaluate(const std::vector<SignatureCandidate>& signatures, const std::string& identity = "",
                        const std::string& more = "") {
    return EvaluateWith(key_, signatures, identity, more);
  }
  static TrustVerdict EvaluateWith(const TestKey& key, const std::vector<SignatureCandidate>& signatures,
                                   const std::string& identity = "", const std::string& more = "") {
    auto policy = TrustPolicy::Parse(R"({"default": [{"type": "sigstoreSigned", "keyData": ")" + key.PublicPemBase64() +
                                         R"(")" + (identity.empty() ? "" : R"(, "signedIdentity": )" + identity) + more + "}]}",
                                     "policy.json", [](const std::string&) -> Result<std::string> { return std::string(); });
    if (!policy) throw std::runtime_error(policy.error().message);
    return EvaluateTrust(*policy, *ParseReference("r.io/app:1"), {kSubjectDigest}, signatures);
  }
  TestKey key_{"ecdsa-p256"};
};

TEST_F(DsseVerdict, AcceptsAStatementSignedOverItsEnvelopeAndNamingThisImage) {
  const TrustVerdict verdict = Evaluate({Enveloped(Statement("r.io/app:1", kSubjectDigest), key_)});
  EXPECT_TRUE(verdict.accepted) << verdict.reason;
  EXPECT_EQ(verdict.signed_digest, kSubjectDigest);
  EXPECT_EQ(verdict.signed_identity, "r.io/app:1");
}

TEST_F(DsseVerdict, RefusesEachWayABundleCanFail) {
  const std::string good = Statement("r.io/app:1", kSubjectDigest);
  SignatureCandidate over_the_statement_alone = Enveloped(good, key_);
  over_the_statement_alone.signature = key_.Sign(good);
  SignatureCandidate retyped = Enveloped(good, key_);
  retyped.payload_type = "application/json";
  const struct {
    const char* what;
    SignatureCandidate candidate;
    std::string reason;
  } cases[] = {
      {"signed without the encoding", over_the_statement_alone, "no signature verifies with the policy's key"},
      {"the payload type changed", retyped, "no signature verifies with the policy's key"},
      {"signed, but another payload type", Enveloped(good, key_, "application/json"), "its payloadType is not application/vnd.in-toto+json"},
      {"an attestation", Enveloped(Statement("r.io/app:1", kSubjectDigest, "https://slsa.dev/provenance/v1"), key_),
       "an attestation is not a signature"},
      {"another image", Enveloped(Statement("r.io/app:1", "sha256:" + std::string(64, 'b')), key_), "not this image's " + kSubjectDigest},
      {"no name", Enveloped(Statement("", kSubjectDigest), key_), "names no identity (its statement's subject has no name"},
      {"another name", Enveloped(Statement("r.io/other:1", kSubjectDigest), key_), "the signature is for \"r.io/other:1\""},
  };
  for (const auto& c : cases) {
    const TrustVerdict verdict = Evaluate({c.candidate});
    EXPECT_FALSE(verdict.accepted) << c.what;
    EXPECT_NE(verdict.reason.find(c.reason), std::string::npos) << c.what << ": " << verdict.reason;
  }
  EXPECT_TRUE(Evaluate({Enveloped(Statement("r.io/app", kSubjectDigest), key_)}, R"({"type": "matchRepository"})").accepted);
}

// in-toto: a consumer ignores the statement's fields it does not know; the ones it reads
// are still typed.
TEST_F(DsseVerdict, AStatementsUnknownFieldsArePassedOverAndItsKnownOnesTyped) {
  json statement = json::parse(Statement("r.io/app:1", kSubjectDigest));
  statement["comment"] = "from a newer signer";
  statement["subject"][0]["uri"] = "https://example.com";
  EXPECT_TRUE(Evaluate({Enveloped(statement.dump(), key_)}).accepted);
  statement["subject"][0]["name"] = 7;
  const TrustVerdict verdict = Evaluate({Enveloped(statement.dump(), key_)});
  EXPECT_FALSE(verdict.accepted);
  EXPECT_NE(verdict.reason.find("a subject's name is not a string"), std::string::npos) << verdict.reason;
}

// cosign's bundles name no repository: refused by default with the way out named, taken
// by digest alone under "namelessBundles": "accept", and recorded so.
TEST_F(DsseVerdict, ANamelessBundleIsBoundByItsDigestOnlyWhenThePolicySaysSo) {
  const SignatureCandidate nameless = Enveloped(Statement("", kSubjectDigest), key_);
  const TrustVerdict refused = Evaluate({nameless});
  EXPECT_FALSE(refused.accepted);
  EXPECT_NE(refused.reason.find("\"namelessBundles\": \"accept\""), std::string::npos) << refused.reason;
  const std::string repository = R"({"type": "matchRepository"})", accept = R"(, "namelessBundles": "accept")";
  const TrustVerdict accepted = Evaluate({nameless}, repository, accept);
  ASSERT_TRUE(accepted.accepted) << accepted.reason;
  EXPECT_TRUE(accepted.digest_only);
  EXPECT_EQ(accepted.signed_digest, kSubjectDigest);
  EXPECT_EQ(accepted.ToJson().value("digest_only", false), true);
  // A name, when there is one, is still checked; and the digest still must be this image's.
  EXPECT_FALSE(Evaluate({Enveloped(Statement("r.io/other:1", kSubjectDigest), key_)}, repository, accept).accepted);
  EXPECT_FALSE(Evaluate({Enveloped(Statement("", "sha256:" + std::string(64, 'b')), key_)}, repository, accept).accepted);
  EXPECT_FALSE(Evaluate({Enveloped(Statement("r.io/app:1", kSubjectDigest), key_)}, repository, accept).digest_only);
  // The key is for bundles: a tag-scheme payload naming an empty reference is no nameless bundle.
  SignatureCandidate simple{.format = SignatureCandidate::Format::kSimpleSigning,
                            .where = "sha256-a.sig layer 0",
                            .payload = testing::SimpleSigningPayload("", kSubjectDigest)};
  simple.signature = key_.Sign(simple.payload);
  const TrustVerdict empty_reference = Evaluate({simple}, repository, accept);
  EXPECT_FALSE(empty_reference.accepted);
  EXPECT_NE(empty_reference.reason.find("docker-reference is empty"), std::string::npos) << empty_reference.reason;
}

// A statement's subjects for this digest count in any order: a name the rule accepts wins,
// else a name it refuses refuses; the nameless one serves only when no subject has a name.
TEST_F(DsseVerdict, EverySubjectForTheDigestCountsWhateverItsPlace) {
  auto statement = [](std::vector<std::string> names) {
    json subjects = json::array();
    for (const std::string& name : names) {
      json subject = {{"digest", {{"sha256", kSubjectDigest.substr(7)}}}};
      if (!name.empty()) subject["name"] = name;
      subjects.push_back(subject);
    }
    return json{{"_type", kInTotoStatementV1}, {"subject", subjects}, {"predicateType", kCosignSignPredicate}, {"predicate", json::object()}}
        .dump();
  };
  const std::string repository = R"({"type": "matchRepository"})", accept = R"(, "namelessBundles": "accept")";
  for (const auto& names : std::vector<std::vector<std::string>>{{"", "r.io/other"}, {"r.io/other", ""}}) {
    EXPECT_FALSE(Evaluate({Enveloped(statement(names), key_)}, repository, accept).accepted) << names[0] << "," << names[1];
  }
  for (const auto& names : std::vector<std::vector<std::string>>{{"", "r.io/app"}, {"r.io/app", ""}, {"r.io/other", "r.io/app"}}) {
    const TrustVerdict verdict = Evaluate({Enveloped(statement(names), key_)}, repository);
    EXPECT_TRUE(verdict.accepted) << names[0] << "," << names[1] << ": " << verdict.reason;
    EXPECT_EQ(verdict.signed_identity, "r.io/app");
    EXPECT_FALSE(verdict.digest_only);
  }
}

// Two requirements, one met on a digest alone: the verdict says digest-only whatever the
// other one recorded.
TEST_F(DsseVerdict, ARequirementMetOnADigestAloneMakesTheVerdictDigestOnly) {
  const TestKey other("ecdsa-p256");
  auto policy = TrustPolicy::Parse(
      R"({"default": [{"type": "sigstoreSigned", "keyData": ")" + key_.PublicPemBase64() +
          R"(", "signedIdentity": {"type": "matchRepository"}, "namelessBundles": "accept"},
                      {"type": "sigstoreSigned", "keyData": ")" + other.PublicPemBase64() +
          R"(", "signedIdentity": {"type": "matchRepository"}}]})",
      "policy.json", [](const std::string&) -> Result<std::string> { return std::string(); });
  ASSERT_TRUE(policy) << policy.error().message;
  const TrustVerdict verdict = EvaluateTrust(*policy, *ParseReference("r.io/app:1"), {kSubjectDigest},
                                             {Enveloped(Statement("", kSubjectDigest), key_),
                                              Enveloped(Statement("r.io/app", kSubjectDigest), other)});
  ASSERT_TRUE(verdict.accepted) << verdict.reason;
  EXPECT_TRUE(verdict.digest_only);
}

// A DSSE envelope is signed with pure Ed25519 (sigstore-go and @sigstore/verify check no
// other form there); Ed25519ph is cosign's form for tag-scheme payloads only.
TEST_F(DsseVerdict, AnEd25519EnvelopeVerifiesAsPureEd25519Only) {
  const TestKey ed("ed25519");
  const std::string statement = Statement("r.io/app:1", kSubjectDigest);
  EXPECT_TRUE(EvaluateWith(ed, {Enveloped(statement, ed)}).accepted);
  SignatureCandidate prehashed = Enveloped(statement, ed);
  prehashed.signature = ed.SignEd25519ph(PreAuthEncoding(kInTotoPayloadType, statement));
  const TrustVerdict verdict = EvaluateWith(ed, {prehashed});
  EXPECT_FALSE(verdict.accepted);
  EXPECT_NE(verdict.reason.find("no signature verifies with the policy's key"), std::string::npos) << verdict.reason;
}

}  // namespace
}  // namespace banger::broker
