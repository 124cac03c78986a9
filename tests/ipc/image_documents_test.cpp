#include "ipc/image_documents.h"

#include "base/sha256.h"
#include "ipc/fetch_protocol.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace banger::ipc {
namespace {

using nlohmann::json;

std::string D(char c) { return "sha256:" + std::string(64, c); }

json Layer(char c, std::string type = "application/vnd.oci.image.layer.v1.tar+gzip") {
  return {{"mediaType", type}, {"digest", D(c)}, {"size", 100}};
}

json Manifest(std::string type = std::string(media::kOciManifest)) {
  return {{"schemaVersion", 2},
          {"mediaType", type},
          {"config", {{"mediaType", media::kOciConfig}, {"digest", D('c')}, {"size", 10}}},
          {"layers", {Layer('1'), Layer('2')}}};
}

json Entry(char c, std::string os, std::string arch, std::string variant = "") {
  json p = {{"os", os}, {"architecture", arch}};
  if (!variant.empty()) p["variant"] = variant;
  return {{"mediaType", media::kOciManifest}, {"digest", D(c)}, {"size", 500}, {"platform", p}};
}

json Index(std::vector<json> entries) {
  return {{"schemaVersion", 2}, {"mediaType", media::kOciIndex}, {"manifests", entries}};
}

Result<Document> Parse(const json& j, std::string_view content_type = "") {
  return ParseDocument(j.dump(), content_type, DocumentLimits{}, "manifest of test:1");
}

TEST(Manifest, OciAndDockerManifestsParse) {
  for (std::string_view type : {media::kOciManifest, media::kDockerManifest}) {
    auto doc = Parse(Manifest(std::string(type)), type);
    ASSERT_TRUE(doc) << doc.error().message;
    EXPECT_EQ(doc->kind, DocumentKind::kManifest);
    EXPECT_EQ(doc->media_type, type);
    ASSERT_EQ(doc->layers.size(), 2u);
    EXPECT_EQ(doc->layers[0].digest, D('1'));
    EXPECT_EQ(doc->config.digest, D('c'));
  }
}

TEST(Manifest, MediaTypeMayBeAbsentThenContentTypeDecides) {
  json m = Manifest();
  m.erase("mediaType");
  auto doc = Parse(m, std::string(media::kOciManifest) + "; charset=utf-8");
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(doc->kind, DocumentKind::kManifest);
}

TEST(Manifest, ContentTypeThatDisagreesIsRefused) {
  auto doc = Parse(Manifest(), media::kDockerList);
  ASSERT_FALSE(doc);
  EXPECT_NE(doc.error().message.find("disagrees"), std::string::npos) << doc.error().message;
}

TEST(Manifest, AmbiguousDocumentIsRefused) {
  json m = Manifest();
  m["manifests"] = json::array({Entry('a', "linux", "amd64")});
  auto doc = Parse(m);
  ASSERT_FALSE(doc);
  EXPECT_NE(doc.error().message.find("CVE-2021-41190"), std::string::npos);
}

TEST(Manifest, SchemaOneIsRefusedByName) {
  json s1 = {{"schemaVersion", 1}, {"name", "x"}, {"fsLayers", json::array()}};
  auto doc = Parse(s1, media::kDockerSchema1Signed);
  ASSERT_FALSE(doc);
  EXPECT_NE(doc.error().message.find("schema 1"), std::string::npos);
}

TEST(Manifest, ForeignAndUnknownLayersAreRefused) {
  json m = Manifest();
  m["layers"].push_back(Layer('3', "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"));
  auto foreign = Parse(m);
  ASSERT_FALSE(foreign);
  EXPECT_NE(foreign.error().message.find("foreign"), std::string::npos);
  EXPECT_NE(foreign.error().message.find(D('3')), std::string::npos) << "names the layer";
  json n = Manifest();
  n["layers"].push_back(Layer('4', "application/x-helm-chart"));
  EXPECT_FALSE(Parse(n));
}

TEST(Manifest, BoundsAndBadDigestsAreNamedErrors) {
  json many = Manifest();
  for (int i = 0; i < 129; ++i) many["layers"].push_back(Layer('5'));
  auto too_many = Parse(many);
  ASSERT_FALSE(too_many);
  EXPECT_EQ(too_many.error().code, ErrorCode::kOversized);

  auto huge = ParseDocument(std::string(5 << 20, ' '), "", DocumentLimits{}, "m");
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().code, ErrorCode::kOversized);

  json bad = Manifest();
  bad["layers"][0]["digest"] = "sha256:../../etc/passwd";
  EXPECT_FALSE(Parse(bad));
  json negative = Manifest();
  negative["layers"][0]["size"] = -1;
  EXPECT_FALSE(Parse(negative));

  auto bomb = ParseDocument(std::string(10000, '[') + std::string(10000, ']'), "", DocumentLimits{}, "m");
  ASSERT_FALSE(bomb);
  EXPECT_EQ(bomb.error().code, ErrorCode::kMalformed);
  EXPECT_FALSE(ParseDocument("{\"schemaVersion\": 2, \"layers\": [", "", DocumentLimits{}, "m"));
  EXPECT_FALSE(ParseDocument("[]", "", DocumentLimits{}, "m"));
}

TEST(Manifest, NotAContainerImageIsRefused) {
  json m = Manifest();
  m["config"]["mediaType"] = "application/vnd.cncf.helm.config.v1+json";
  auto doc = Parse(m);
  ASSERT_FALSE(doc);
  EXPECT_NE(doc.error().message.find("not a container image"), std::string::npos);
}

TEST(Index, PlatformSelection) {
  json idx = Index({Entry('a', "linux", "amd64"), Entry('b', "linux", "arm64", "v8"), Entry('c', "linux", "arm", "v7")});
  auto doc = Parse(idx, media::kOciIndex);
  ASSERT_TRUE(doc) << doc.error().message;
  ASSERT_EQ(doc->kind, DocumentKind::kIndex);
  auto pick = [&](const char* p) { return SelectPlatform(*doc, *ParsePlatform(p), "test:1"); };
  EXPECT_EQ(pick("linux/amd64")->digest, D('a'));
  EXPECT_EQ(pick("linux/arm64")->digest, D('b'));
  EXPECT_EQ(pick("linux/arm64/v8")->digest, D('b'));
  EXPECT_EQ(pick("linux/arm/v7")->digest, D('c'));
  auto missing = pick("linux/s390x");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "test:1 has no linux/s390x image; offered: linux/amd64, linux/arm64/v8, linux/arm/v7");
}

TEST(Index, AttestationsAreSkipped) {
  json att = Entry('f', "unknown", "unknown");
  att["annotations"] = {{"vnd.docker.reference.type", "attestation-manifest"}};
  json idx = Index({att, Entry('a', "linux", "amd64")});
  auto doc = Parse(idx);
  ASSERT_TRUE(doc);
  EXPECT_EQ(SelectPlatform(*doc, *ParsePlatform("linux/amd64"), "t")->digest, D('a'));
  json only_att = Index({att});
  auto none = SelectPlatform(*Parse(only_att), *ParsePlatform("linux/amd64"), "t");
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("offered: none"), std::string::npos);
}

TEST(Index, DockerManifestListParses) {
  json list = Index({Entry('a', "linux", "amd64")});
  list["mediaType"] = media::kDockerList;
  list["manifests"][0]["mediaType"] = media::kDockerManifest;
  auto doc = Parse(list, media::kDockerList);
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(doc->kind, DocumentKind::kIndex);
}

TEST(Platform, ParsesAndNormalises) {
  EXPECT_EQ(ParsePlatform("linux/aarch64")->architecture, "arm64");
  EXPECT_EQ(ParsePlatform("linux/arm/v7")->variant, "v7");
  EXPECT_FALSE(ParsePlatform("linux"));
  EXPECT_FALSE(ParsePlatform("linux/"));
  EXPECT_FALSE(ParsePlatform("Linux/AMD64"));
  EXPECT_FALSE(ParsePlatform("linux/amd64/../x"));
}

// Fields of the wrong type where a platform or an annotation is read are absent, not an
// exception: the broker reads these documents too (before, nlohmann's value() threw
// type_error out of the parser).
TEST(Index, WrongTypedPlatformAndAnnotationFieldsDoNotThrow) {
  json idx = Index({Entry('a', "linux", "amd64")});
  idx["manifests"][0]["platform"]["os"] = 5;
  idx["manifests"][0]["platform"]["variant"] = json::array();
  idx["manifests"][0]["annotations"] = {{"vnd.docker.reference.type", 7}};
  auto doc = Parse(idx);
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(doc->manifests[0].platform.os, "");
  EXPECT_FALSE(SelectPlatform(*doc, *ParsePlatform("linux/amd64"), "t"));
  json manifest = Manifest();
  manifest["mediaType"] = 12;
  EXPECT_TRUE(Parse(manifest));
}

// What the broker derives from the fetcher's bytes (fetch_protocol.h DerivePlan).
class Derive : public ::testing::Test {
 protected:
  std::string manifest = Manifest().dump();
  json Entry(const std::string& body, const char* arch) {
    return {{"mediaType", media::kOciManifest},
            {"digest", Sha256DigestOf(body)},
            {"size", body.size()},
            {"platform", {{"os", "linux"}, {"architecture", arch}}}};
  }
  Result<ResolvedPlan> Run(const std::vector<std::string>& indexes, const std::string& body) {
    std::vector<std::string_view> views(indexes.begin(), indexes.end());
    return DerivePlan(views, body, "", *ParsePlatform("linux/amd64"), DocumentLimits{}, "manifest of t:1");
  }
};

TEST_F(Derive, AManifestGivesItsLayersInOrder) {
  auto plan = Run({}, manifest);
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_TRUE(plan->indexes.empty());
  EXPECT_EQ(plan->manifest_digest, Sha256DigestOf(manifest));
  EXPECT_EQ(plan->platform, "");
  EXPECT_EQ(plan->config, (BlobRef{D('c'), 10, std::string(media::kOciConfig)}));
  ASSERT_EQ(plan->layers.size(), 2u);
  EXPECT_EQ(plan->layers[0].digest, D('1'));
  EXPECT_EQ(plan->layers[1].digest, D('2'));
}

TEST_F(Derive, AnIndexChainNamesEachNextDocumentExactly) {
  const std::string inner = Index({Entry(manifest, "amd64")}).dump();
  json outer_entry = {{"mediaType", media::kOciIndex}, {"digest", Sha256DigestOf(inner)}, {"size", inner.size()}};
  const std::string outer = Index({outer_entry}).dump();
  auto plan = Run({outer, inner}, manifest);
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_EQ(plan->indexes, (std::vector<IndexDocument>{{Sha256DigestOf(outer), outer.size()},
                                                       {Sha256DigestOf(inner), inner.size()}}));
  EXPECT_EQ(plan->platform, "linux/amd64");

  json wrong_size = Entry(manifest, "amd64");
  wrong_size["size"] = manifest.size() + 1;
  auto refused = Run({Index({wrong_size}).dump()}, manifest);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("but the next document is"), std::string::npos) << refused.error().message;
  EXPECT_FALSE(Run({Index({Entry(manifest + " ", "amd64")}).dump()}, manifest)) << "another digest";
  EXPECT_FALSE(Run({Index({Entry(manifest, "arm64")}).dump()}, manifest)) << "no amd64 entry";
  EXPECT_FALSE(Run({manifest}, manifest)) << "a manifest where an index should be";
  EXPECT_FALSE(Run({}, inner)) << "an index where the manifest should be";
  EXPECT_FALSE(Run({inner, inner, inner, inner, inner}, manifest)) << "deeper than kMaxIndexDepth";
}

}  // namespace
}  // namespace banger::ipc
