// Keys a policy names: the kinds cosign signs with load and verify, others are refused
// when the policy is read, and a signature verifies only over the exact bytes signed.
#include "broker/trust/public_key.h"

#include <gtest/gtest.h>

#include "tests/broker/trust/test_keys.h"

namespace banger::broker {
namespace {

using testing::TestKey;

class CosignKeyKinds : public ::testing::TestWithParam<const char*> {};

TEST_P(CosignKeyKinds, VerifyTheirOwnSignatureOverTheExactBytesOnly) {
  const TestKey signer(GetParam()), other(GetParam());
  auto key = PublicKey::FromPem(signer.PublicPem(), "cosign.pub");
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(key->kind(), GetParam());
  const std::string payload = testing::SimpleSigningPayload("example.com/app:1", "sha256:" + std::string(64, 'a'));
  const std::string signature = signer.Sign(payload);
  EXPECT_TRUE(key->Verifies(payload, signature));
  std::string changed = payload;
  changed[changed.size() / 2] ^= 1;
  EXPECT_FALSE(key->Verifies(changed, signature)) << "one bit of the payload changed";
  EXPECT_FALSE(key->Verifies(payload + " ", signature)) << "a byte appended";
  EXPECT_FALSE(key->Verifies(payload, other.Sign(payload))) << "another key's signature";
  std::string bad_signature = signature;
  bad_signature.back() ^= 1;
  EXPECT_FALSE(key->Verifies(payload, bad_signature));
  EXPECT_FALSE(key->Verifies(payload, "")) << "an empty signature";
}

INSTANTIATE_TEST_SUITE_P(Kinds, CosignKeyKinds,
                         ::testing::Values("ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "rsa-2048", "rsa-3072", "ed25519"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) c = c == '-' ? '_' : c;
                           return name;
                         });

TEST(PublicKey, KeysCosignDoesNotSignWithAreRefusedByName) {
  for (const char* kind : {"rsa-1024", "ecdsa-p224", "ed448"}) {
    auto key = PublicKey::FromPem(TestKey(kind).PublicPem(), "/etc/banger/weak.pub");
    ASSERT_FALSE(key) << kind;
    EXPECT_EQ(key.error().message.find("public key /etc/banger/weak.pub: not a key cosign signs with"), 0u)
        << key.error().message;
  }
  auto garbage = PublicKey::FromPem("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n", "keyData");
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().message, "public key keyData: not a PEM public key (-----BEGIN PUBLIC KEY-----)");
  EXPECT_FALSE(PublicKey::FromPem(std::string(70000, 'A'), "big"));
  const TestKey one("ecdsa-p256"), two("ecdsa-p256");
  auto both = PublicKey::FromPem(one.PublicPem() + two.PublicPem(), "two.pub");
  ASSERT_FALSE(both) << "one key per file";
  EXPECT_EQ(both.error().message, "public key two.pub: more follows the key");
  EXPECT_TRUE(PublicKey::FromPem(one.PublicPem() + "\n\n", "blank.pub")) << "blank lines after it are fine";
}

// containers/image verifies with SHA-256 whatever the curve; cosign signs P-384 and
// P-521 keys with their own digests: both verify.
TEST(PublicKey, P384AndP521SignaturesMadeWithSha256VerifyToo) {
  for (const char* kind : {"ecdsa-p384", "ecdsa-p521"}) {
    const TestKey signer(kind);
    auto key = PublicKey::FromPem(signer.PublicPem(), kind);
    ASSERT_TRUE(key);
    const std::string payload = "payload";
    EXPECT_TRUE(key->Verifies(payload, signer.SignWith(payload, EVP_sha256()))) << kind;
    EXPECT_FALSE(key->Verifies(payload, signer.SignWith(payload, EVP_sha1()))) << kind << ": no weaker digest";
  }
}

// cosign signs a tag-scheme payload with Ed25519ph when the key is Ed25519 (a DSSE
// envelope with pure Ed25519 only: DsseVerdict.AnEd25519EnvelopeVerifiesAsPureEd25519Only).
TEST(PublicKey, Ed25519phSignaturesVerifyAsCosignMakesThem) {
  const TestKey signer("ed25519"), other("ed25519");
  auto key = PublicKey::FromPem(signer.PublicPem(), "ed.pub");
  ASSERT_TRUE(key);
  const std::string payload = testing::SimpleSigningPayload("example.com/app:1", "sha256:" + std::string(64, 'a'));
  EXPECT_TRUE(key->Verifies(payload, signer.SignEd25519ph(payload)));
  EXPECT_FALSE(key->Verifies(payload + " ", signer.SignEd25519ph(payload)));
  EXPECT_FALSE(key->Verifies(payload, other.SignEd25519ph(payload)));
  EXPECT_TRUE(key->Verifies(payload, signer.Sign(payload))) << "and pure Ed25519";
}

// RFC 8032, 7.3: the Ed25519ph test vector ("abc"), from the key's SubjectPublicKeyInfo.
TEST(PublicKey, Ed25519phMatchesRfc8032sTestVector) {
  auto bytes = [](const std::string& hex) {
    std::string out;
    for (size_t i = 0; i < hex.size(); i += 2) out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    return out;
  };
  const std::string spki = bytes("302a300506032b6570032100ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf");
  const std::string pem = "-----BEGIN PUBLIC KEY-----\n" + EncodeBase64(spki) + "\n-----END PUBLIC KEY-----\n";
  auto key = PublicKey::FromPem(pem, "rfc8032");
  ASSERT_TRUE(key) << key.error().message;
  const std::string signature = bytes(
      "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae4131f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406");
  EXPECT_TRUE(key->Verifies("abc", signature));
  EXPECT_FALSE(key->Verifies("abd", signature));
}

TEST(PublicKey, TheFingerprintIsTheSha256OfTheKeysDerAndStable) {
  const TestKey signer("ecdsa-p256");
  auto first = PublicKey::FromPem(signer.PublicPem(), "a");
  auto again = PublicKey::FromPem(signer.PublicPem(), "b");
  auto other = PublicKey::FromPem(TestKey("ecdsa-p256").PublicPem(), "c");
  ASSERT_TRUE(first && again && other);
  EXPECT_EQ(first->fingerprint().size(), 7u + 64u);
  EXPECT_EQ(first->fingerprint().rfind("SHA256:", 0), 0u);
  EXPECT_EQ(first->fingerprint(), again->fingerprint());
  EXPECT_NE(first->fingerprint(), other->fingerprint());
}

}  // namespace
}  // namespace banger::broker
