// A signature manifest as the broker reads it, before any byte of a signature moves: each
// simple-signing layer bounded, everything else passed over, and no shape of document
// (a missing field, a wrong type) read past what is there.
#include "broker/pull/signatures.h"

#include <gtest/gtest.h>

namespace banger::broker {
namespace {

const std::string kLayer = std::string(R"({"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "digest": "sha256:)") +
                           std::string(64, 'a') + R"(", "size": 200, "annotations": {"dev.cosignproject.cosign/signature": "c2ln"}})";

TEST(SignatureManifest, ReadsTheSimpleSigningLayersAndPassesOverTheRest) {
  auto layers = SignatureLayersOf(R"({"schemaVersion": 2, "layers": [)" + kLayer +
                                      R"(, {"mediaType": "application/vnd.oci.image.layer.v1.tar"}]})",
                                  "sha256-a.sig");
  ASSERT_TRUE(layers) << layers.error().message;
  ASSERT_EQ(layers->size(), 1u);
  EXPECT_EQ(layers->at(0).digest, "sha256:" + std::string(64, 'a'));
  EXPECT_EQ(layers->at(0).size, 200u);
  EXPECT_EQ(layers->at(0).signature, "c2ln");
  EXPECT_EQ(SignatureTag("sha256:" + std::string(64, 'b')), "sha256-" + std::string(64, 'b') + ".sig");
}

// Every one of these once read past the end of a JSON object (operator[] on a const
// object for a missing key) or must be refused by name; under the sanitizer build either
// would show.
TEST(SignatureManifest, EveryHostileShapeIsRefusedOrPassedOverWithoutReadingPastIt) {
  const std::string simple = R"("mediaType": "application/vnd.dev.cosign.simplesigning.v1+json")";
  const struct {
    std::string text, error;  // error empty: read, with no signature in it
  } cases[] = {
      {"{}", "no list of layers"},
      {"[]", "no list of layers"},
      {R"({"layers": {}})", "no list of layers"},
      {R"({"layers": [1, "x", null, []]})", ""},
      {R"({"layers": [{)" + simple + "}]}", "a layer without a sha256 digest"},
      {R"({"layers": [{)" + simple + R"(, "digest": 7}]})", "a layer without a sha256 digest"},
      {R"({"layers": [{)" + simple + R"(, "digest": "sha256:)" + std::string(64, 'a') + R"("}]})", "without a size"},
      {R"({"layers": [{)" + simple + R"(, "digest": "sha256:)" + std::string(64, 'a') + R"(", "size": -1}]})", "without a size"},
      {R"({"layers": [{)" + simple + R"(, "digest": "sha256:)" + std::string(64, 'a') + R"(", "size": 70000}]})",
       "is 70000 bytes, more than a signature's payload may be (65536)"},
      {"not json", "signature manifest sha256-a.sig: invalid JSON"},
  };
  for (const auto& c : cases) {
    auto layers = SignatureLayersOf(c.text, "sha256-a.sig");
    if (c.error.empty()) {
      ASSERT_TRUE(layers) << c.text << ": " << layers.error().message;
      EXPECT_TRUE(layers->empty()) << c.text;
      continue;
    }
    ASSERT_FALSE(layers) << c.text;
    EXPECT_NE(layers.error().message.find(c.error), std::string::npos) << c.text << "\n  gave: " << layers.error().message;
  }
  // A layer whose annotation is missing, or not a string, is a signature that cannot verify.
  auto unsigned_layer = SignatureLayersOf(R"({"layers": [{)" + simple + R"(, "digest": "sha256:)" + std::string(64, 'a') +
                                              R"(", "size": 3, "annotations": {"dev.cosignproject.cosign/signature": 5}}]})",
                                          "sha256-a.sig");
  ASSERT_TRUE(unsigned_layer);
  EXPECT_EQ(unsigned_layer->at(0).signature, "");
  std::string many = R"({"layers": [)";
  for (int i = 0; i < 101; ++i) many += (i ? "," : "") + kLayer;
  auto too_many = SignatureLayersOf(many + "]}", "sha256-a.sig");
  ASSERT_FALSE(too_many);
  EXPECT_NE(too_many.error().message.find("holds more than 100 signatures"), std::string::npos);
}

}  // namespace
}  // namespace banger::broker
