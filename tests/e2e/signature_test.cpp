// Signatures and the trust policy against the real registry (docs/signatures.md): images
// pushed by the fixtures, signed by tests/fixtures/cosign.py as cosign's specs lay them out
// (Debian's skopeo has sigstore switched off), pulled by the built banger under a policy
// file. An accepted image records its verdict in image.json and the audit log; every
// refusal names the reference, the policy's scope and the reason, publishes nothing, and
// leaves none of the image's layers in the cache.
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/registry_fixture.h"

namespace banger::testing {
namespace {

using nlohmann::json;

struct Pushed {
  std::string ref;
  std::string digest;                // the manifest's, or the index's for a multi-platform image
  std::vector<std::string> layers;   // of the linux/amd64 image
  std::string platform_digest;       // the linux/amd64 manifest's
};

class Signatures : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = TestRegistry::Start();
    ASSERT_TRUE(registry_);
    for (const char* key : {"trusted", "stranger"}) {
      CommandResult made = Cosign(std::string("keygen --kind ecdsa-p256 --private ") + dir_.path() + "/" + key +
                                  ".key --public " + dir_.path() + "/" + key + ".pub");
      ASSERT_EQ(made.exit_status, 0) << made.output;
    }
    const std::string host = registry_->host(), trusted = dir_.path() + "/trusted.pub";
    std::ofstream(policy_) << R"({"default": [{"type": "reject"}], "transports": {"docker": {
        ")" << host << R"(/signed": [{"type": "sigstoreSigned", "keyPath": ")" << trusted << R"("}],
        ")" << host << R"(/cosign": [{"type": "sigstoreSigned", "keyPath": ")" << trusted
                    << R"(", "signedIdentity": {"type": "matchRepository"}}],
        ")" << host << R"(/nameless": [{"type": "sigstoreSigned", "keyPath": ")" << trusted
                    << R"(", "signedIdentity": {"type": "matchRepository"}, "namelessBundles": "accept"}],
        ")" << host << R"(/open": [{"type": "insecureAcceptAnything"}]}}})";
    std::ofstream(config_) << "audit_log = " << dir_.path() << "/audit.log\naudit_syslog = none\nsignature_policy = "
                           << policy_ << "\n";
  }

  CommandResult Cosign(const std::string& args) {
    return RunCommand("/usr/bin/python3 " + FixturesDir() + "/cosign.py " + args + " 2>&1");
  }
  Pushed Push(const std::string& repo, int seed, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"--layers", "2", "--seed", std::to_string(seed)};
    args.insert(args.end(), extra.begin(), extra.end());
    const json pushed = registry_->Push(repo, "v1", args);
    Pushed out;
    if (pushed.is_null()) return out;
    const json& image = pushed["images"]["linux/amd64"];
    out.ref = registry_->host() + "/" + repo + ":v1";
    out.platform_digest = image["manifest_digest"];
    out.digest = pushed.value("index_digest", out.platform_digest);
    for (const json& layer : image["layers"]) out.layers.push_back(layer["digest"]);
    return out;
  }
  // Signs `digest` of `repo` with the named key (cosign.py sign, tag scheme by default).
  void Sign(const std::string& repo, const std::string& digest, const std::string& key, const std::string& extra = "") {
    CommandResult signed_result = Cosign("sign --registry " + registry_->host() + " --repo " + repo + " --digest " + digest +
                                         " --key " + dir_.path() + "/" + key + ".key " + extra);
    ASSERT_EQ(signed_result.exit_status, 0) << signed_result.output;
  }
  CommandResult Banger(const std::string& args) {
    return RunCommand(BangerCommand(state_.path(), cache_.path(), "BANGER_CONFIG=" + config_) + args + " 2>&1");
  }
  json Listed() { return json::parse(Banger("image list --json").output, nullptr, false); }
  bool InCache(const std::string& digest) {
    return ::access((cache_.path() + "/oci/blobs/sha256/" + digest.substr(7)).c_str(), F_OK) == 0;
  }
  // `image pull` of `image` refused for `reason` in `scope`, with nothing published and no
  // layer of it fetched.
  void ExpectRefused(const Pushed& image, const std::string& reason, const std::string& scope) {
    CommandResult pulled = Banger("image pull -q " + image.ref);
    EXPECT_EQ(pulled.exit_status, 1) << pulled.output;
    EXPECT_EQ(pulled.output.find("banger: error: the signature policy refuses " + image.ref + ": "), 0u) << pulled.output;
    EXPECT_NE(pulled.output.find(reason), std::string::npos) << pulled.output;
    EXPECT_NE(pulled.output.find("(" + policy_ + ", " + scope + ")"), std::string::npos) << pulled.output;
    const json listed = Listed();
    ASSERT_TRUE(listed.is_array()) << listed.dump();
    for (const json& record : listed) EXPECT_NE(record.value("ref", ""), image.ref) << "published: " << record.dump();
    for (const std::string& layer : image.layers) EXPECT_FALSE(InCache(layer)) << "layer " << layer << " was fetched";
  }
  std::string Scope(const std::string& name) { return "transports.docker \"" + registry_->host() + "/" + name + "\""; }
  // The key's fingerprint as OpenSSL computes it: sha256 of its DER.
  std::string Fingerprint(const std::string& key) {
    return "SHA256:" + RunCommand("openssl pkey -pubin -in " + dir_.path() + "/" + key +
                                  ".pub -outform DER | sha256sum | cut -c1-64 | tr -d '\\n'")
                           .output;
  }

  std::unique_ptr<TestRegistry> registry_;
  ScratchDir dir_{"banger-signatures"}, state_{"banger-state"}, cache_{"banger-cache"};
  std::string policy_ = dir_.path() + "/policy.json", config_ = dir_.path() + "/config";
};

TEST_F(Signatures, ASignedImageIsPulledAndItsVerdictRecordedInImageJsonAndTheAuditLog) {
  const Pushed image = Push("signed/app", 11);
  Sign("signed/app", image.digest, "trusted", "--identity " + image.ref);
  CommandResult pulled = Banger("image pull -q " + image.ref);
  ASSERT_EQ(pulled.exit_status, 0) << pulled.output;
  const json listed = Listed();
  ASSERT_EQ(listed.size(), 1u) << listed.dump();
  const json& verdict = listed[0]["signature"];
  EXPECT_EQ(verdict["accepted"], true) << verdict.dump();
  EXPECT_EQ(verdict["scope"], Scope("signed"));
  EXPECT_EQ(verdict["policy"], policy_);
  EXPECT_EQ(verdict["requirements"], "sigstoreSigned");
  EXPECT_EQ(verdict["key_fingerprint"], Fingerprint("trusted"));
  EXPECT_EQ(verdict["key"], dir_.path() + "/trusted.pub");
  EXPECT_EQ(verdict["signed_identity"], image.ref);
  EXPECT_EQ(verdict["signed_digest"], image.digest);
  // The audit log's end record of the pull carries it too.
  bool audited = false;
  std::ifstream log(dir_.path() + "/audit.log");
  for (std::string line; std::getline(log, line);) {
    const json record = json::parse(line, nullptr, false);
    if (record.value("request", "") == "image pull" && record.contains("signature")) {
      audited = record["signature"]["key_fingerprint"] == Fingerprint("trusted");
    }
  }
  EXPECT_TRUE(audited) << ReadFile(dir_.path() + "/audit.log");
  // `image fetch` is held to the policy as well, and says so.
  CommandResult fetched = Banger("image fetch --json " + image.ref);
  ASSERT_EQ(fetched.exit_status, 0) << fetched.output;
  EXPECT_EQ(json::parse(fetched.output, nullptr, false)["signature"]["accepted"], true) << fetched.output;
}

TEST_F(Signatures, CosignsRepositoryOnlyIdentityPassesMatchRepositoryButNotTheDefaultRule) {
  const Pushed matched = Push("cosign/app", 12);
  Sign("cosign/app", matched.digest, "trusted");  // identity HOST/cosign/app, as cosign writes it
  EXPECT_EQ(Banger("image pull -q " + matched.ref).exit_status, 0);
  const Pushed exact = Push("signed/bare", 13);
  Sign("signed/bare", exact.digest, "trusted");
  ExpectRefused(exact,
                "the signature is for \"" + registry_->host() + "/signed/bare\", and matchRepoDigestOrExact wants " +
                    exact.ref,
                Scope("signed"));
}

TEST_F(Signatures, EachWayASignatureCanFailIsRefusedByNameBeforeAnyLayer) {
  ExpectRefused(Push("signed/unsigned", 20), "the image has no signature, and sigstoreSigned needs one", Scope("signed"));

  const Pushed stranger = Push("signed/stranger", 21);
  Sign("signed/stranger", stranger.digest, "stranger", "--identity " + stranger.ref);
  ExpectRefused(stranger, "no signature verifies with the policy's key (" + Fingerprint("trusted") + ")", Scope("signed"));

  const Pushed tampered = Push("signed/tampered", 22);
  Sign("signed/tampered", tampered.digest, "trusted", "--identity " + tampered.ref + " --tamper");
  ExpectRefused(tampered, "no signature verifies with the policy's key", Scope("signed"));

  // A good signature of image A, attached to image B.
  const Pushed a = Push("signed/a", 23), b = Push("signed/b", 24);
  Sign("signed/b", b.digest, "trusted", "--identity " + b.ref + " --signed-digest " + a.digest);
  ExpectRefused(b, ": sha256-" + b.digest.substr(7) + ".sig layer 1 (", Scope("signed"));
  ExpectRefused(b, ") signs " + a.digest + ", not this image's " + b.digest, Scope("signed"));

  const Pushed elsewhere = Push("signed/elsewhere", 25);
  Sign("signed/elsewhere", elsewhere.digest, "trusted", "--identity " + registry_->host() + "/signed/other:v1");
  ExpectRefused(elsewhere, "the signature is for \"" + registry_->host() + "/signed/other:v1\"", Scope("signed"));

  const Pushed many = Push("signed/many", 26);
  Sign("signed/many", many.digest, "trusted", "--identity " + many.ref + " --count 101");
  ExpectRefused(many, "signature manifest sha256-" + many.digest.substr(7) + ".sig holds more than 100 signatures",
                Scope("signed"));

  const Pushed huge = Push("signed/huge", 27);
  Sign("signed/huge", huge.digest, "trusted", "--identity " + huge.ref + " --pad-bytes 70000");
  ExpectRefused(huge, "more than a signature's payload may be (65536)", Scope("signed"));

  // Under `reject`, signed or not.
  const Pushed rejected = Push("other/app", 28);
  Sign("other/app", rejected.digest, "trusted", "--identity " + rejected.ref);
  ExpectRefused(rejected, "the policy rejects every image in this scope", "default");
  ExpectRefused(Push("other/unsigned", 29), "the policy rejects every image in this scope", "default");
}

// cosign's new bundle format: a sigstore bundle (DSSE over an in-toto statement) in a
// referrer manifest. distribution 2.8 has no referrers API, so the fallback tag
// sha256-<hex> lists the referrers, as the OCI distribution spec says.
TEST_F(Signatures, ABundleFoundThroughTheReferrersFallbackTagIsVerified) {
  const Pushed image = Push("signed/bundled", 60);
  Sign("signed/bundled", image.digest, "trusted", "--scheme referrers --identity " + image.ref);
  CommandResult pulled = Banger("image pull -q " + image.ref);
  ASSERT_EQ(pulled.exit_status, 0) << pulled.output;
  const json verdict = Listed()[0]["signature"];
  EXPECT_EQ(verdict["key_fingerprint"], Fingerprint("trusted")) << verdict.dump();
  EXPECT_EQ(verdict["signed_identity"], image.ref);
  EXPECT_EQ(verdict["signed_digest"], image.digest);

  // A bundle by another key, one for another image, and a tampered one: refused by name.
  const Pushed stranger = Push("signed/bundled-stranger", 61);
  Sign("signed/bundled-stranger", stranger.digest, "stranger", "--scheme referrers --identity " + stranger.ref);
  ExpectRefused(stranger, "no signature verifies with the policy's key", Scope("signed"));
  const Pushed a = Push("signed/bundled-a", 62), b = Push("signed/bundled-b", 63);
  Sign("signed/bundled-b", b.digest, "trusted", "--scheme referrers --identity " + b.ref + " --signed-digest " + a.digest);
  ExpectRefused(b, "signs " + a.digest + ", not this image's " + b.digest, Scope("signed"));
  const Pushed tampered = Push("signed/bundled-tampered", 64);
  Sign("signed/bundled-tampered", tampered.digest, "trusted", "--scheme referrers --tamper --identity " + tampered.ref);
  ExpectRefused(tampered, "no signature verifies with the policy's key", Scope("signed"));
  // cosign writes no subject name: the statement names no identity for the policy to
  // check, refused unless the requirement says "namelessBundles": "accept".
  auto sign_nameless = [&](const std::string& repo, const std::string& digest) {
    Sign(repo, digest, "trusted",
         "--scheme referrers --payload-json '{\"_type\":\"https://in-toto.io/Statement/v1\",\"subject\":[{\"digest\":"
         "{\"sha256\":\"" + digest.substr(7) + "\"}}],\"predicateType\":\"https://sigstore.dev/cosign/sign/v1\","
         "\"predicate\":{}}'");
  };
  const Pushed nameless = Push("signed/bundled-nameless", 65);
  sign_nameless("signed/bundled-nameless", nameless.digest);
  ExpectRefused(nameless, "names no identity (its statement's subject has no name", Scope("signed"));
  const Pushed taken = Push("nameless/app", 66);
  sign_nameless("nameless/app", taken.digest);
  pulled = Banger("image pull -q " + taken.ref);
  ASSERT_EQ(pulled.exit_status, 0) << pulled.output;
  json listed = Listed();
  auto ours = std::find_if(listed.begin(), listed.end(), [&](const json& one) { return one.value("ref", "") == taken.ref; });
  ASSERT_NE(ours, listed.end()) << listed.dump();
  const json& digest_only = (*ours)["signature"];
  EXPECT_EQ(digest_only.value("digest_only", false), true) << digest_only.dump();
  EXPECT_EQ(digest_only["signed_digest"], taken.digest);
  EXPECT_FALSE(digest_only.contains("signed_identity")) << digest_only.dump();
}

// The OCI 1.1 referrers API, which distribution 2.8 lacks, served by the fixture proxy in
// front of the registry: the broker follows its pages (one referrer a page here), asks
// for bundles only and filters again itself, and refuses by name a listed referrer that
// is not there or is no signature of this image.
TEST_F(Signatures, TheReferrersApiIsFollowedPageByPageAndWhatItListsIsChecked) {
  auto paged = TestProxy::Start(registry_->host(), {"--referrers-api", "1"});
  ASSERT_TRUE(paged);
  const std::string via = paged->host();
  // Whichever front the image comes through, its signatures name the first one.
  std::ofstream(policy_, std::ios::trunc) << R"({"default": [{"type": "sigstoreSigned", "keyPath": ")" << dir_.path()
                                           << R"(/trusted.pub", "signedIdentity": {"type": "exactRepository", "dockerRepository": ")"
                                           << via << R"(/signed/paged"}}]})";
  const Pushed image = Push("signed/paged", 70);
  const std::string ref = via + "/signed/paged:v1";
  // Two bundles by a stranger first, then the trusted one: on the third page.
  Sign("signed/paged", image.digest, "stranger", "--scheme referrers --count 2 --identity " + ref);
  Sign("signed/paged", image.digest, "trusted", "--scheme referrers --identity " + ref);
  CommandResult pulled = Banger("image pull -q " + ref);
  ASSERT_EQ(pulled.exit_status, 0) << pulled.output;
  size_t pages = 0;
  bool filtered = false;
  for (const json& entry : paged->Log()) {
    const std::string path = entry.value("path", "");
    if (path.find("/referrers/" + image.digest) == std::string::npos) continue;
    ++pages;
    filtered |= path.find("artifactType=application%2Fvnd.dev.sigstore.bundle.v0.3%2Bjson") != std::string::npos;
  }
  EXPECT_EQ(pages, 3u) << "one referrer a page";
  EXPECT_TRUE(filtered) << "the broker asks for bundles only";

  const std::string missing = "sha256:" + std::string(64, '0');
  const std::string bundle_type = "application/vnd.dev.sigstore.bundle.v0.3+json";
  // A genuine bundle referrer, of another image.
  const json other = registry_->Push("signed/paged", "other", {"--layers", "1", "--seed", "71"});
  ASSERT_FALSE(other.is_null());
  const std::string other_digest = other["images"]["linux/amd64"]["manifest_digest"];
  CommandResult signed_other = Cosign("sign --registry " + registry_->host() + " --repo signed/paged --digest " + other_digest +
                                      " --key " + dir_.path() + "/trusted.key --scheme referrers --identity " + ref);
  ASSERT_EQ(signed_other.exit_status, 0) << signed_other.output;
  const std::string others = json::parse(signed_other.output, nullptr, false)["referrers"][0];
  const struct {
    std::string listed, reason;
  } hostile[] = {
      {R"({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": ")" + missing +
           R"(", "size": 100, "artifactType": ")" + bundle_type + R"("})",
       "the referrers of " + image.digest + " list " + missing + ", which the registry does not have"},
      {R"({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": ")" + image.digest +
           R"(", "size": 100, "artifactType": ")" + bundle_type + R"("})",
       "referrer " + image.digest + " is not a signature: it holds no sigstore bundle"},
      {R"({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": ")" + others +
           R"(", "size": 100, "artifactType": ")" + bundle_type + R"("})",
       "referrer " + others + " is listed among the referrers of " + image.digest + " but names another subject"},
  };
  for (const auto& h : hostile) {
    auto proxy = TestProxy::Start(registry_->host(), {"--referrers-api", "5", "--referrers-unfiltered", "--referrers-also", h.listed});
    ASSERT_TRUE(proxy);
    Pushed through = image;
    through.ref = proxy->host() + "/signed/paged:v1";
    through.layers.clear();  // this cache has them from the pull above
    CommandResult refused = Banger("image pull -q --name hostile " + through.ref);
    EXPECT_EQ(refused.exit_status, 1) << refused.output;
    EXPECT_NE(refused.output.find("banger: error: the signature policy refuses " + through.ref + ": " + h.reason),
              std::string::npos)
        << refused.output;
  }
  // A listed referrer that is no bundle, from a registry that does not filter: passed over.
  auto unfiltered = TestProxy::Start(registry_->host(), {"--referrers-api", "5", "--referrers-unfiltered", "--referrers-also",
                                                         R"({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": ")" +
                                                             missing + R"(", "size": 100, "artifactType": "application/spdx+json"})"});
  ASSERT_TRUE(unfiltered);
  CommandResult passed = Banger("image pull -q --name sbom-listed " + unfiltered->host() + "/signed/paged:v1");
  EXPECT_EQ(passed.exit_status, 0) << passed.output;
}

TEST_F(Signatures, ImageVerifyGivesTheVerdictWithoutFetchingALayer) {
  const Pushed good = Push("signed/verified", 50);
  Sign("signed/verified", good.digest, "trusted", "--identity " + good.ref);
  CommandResult accepted = Banger("image verify " + good.ref);
  EXPECT_EQ(accepted.exit_status, 0) << accepted.output;
  EXPECT_EQ(accepted.output.find("accepted " + good.ref + "@" + good.digest + ": sigstoreSigned in " + Scope("signed") +
                                 " of " + policy_ + " (key " + Fingerprint("trusted") + ", signed identity " + good.ref +
                                 ", signs " + good.digest + ")"),
            0u)
      << accepted.output;

  const Pushed bad = Push("signed/unverified", 51);
  Sign("signed/unverified", bad.digest, "stranger", "--identity " + bad.ref);
  CommandResult refused = Banger("image verify --json " + bad.ref);
  EXPECT_EQ(refused.exit_status, 1) << refused.output;
  const size_t newline = refused.output.find('\n');
  const json verdict = json::parse(refused.output.substr(0, newline), nullptr, false);
  EXPECT_EQ(verdict["signature"]["accepted"], false) << refused.output;
  EXPECT_NE(verdict["signature"].value("reason", "").find("no signature verifies with the policy's key"), std::string::npos)
      << refused.output;
  EXPECT_NE(refused.output.find("banger: error: the signature policy refuses " + bad.ref), std::string::npos)
      << refused.output;
  for (const Pushed* image : {&good, &bad}) {
    for (const std::string& layer : image->layers) EXPECT_FALSE(InCache(layer)) << "verify fetched layer " << layer;
  }
  EXPECT_EQ(Listed(), json::array()) << "verify publishes nothing";

  // Without a policy there is nothing to refuse, and verify says so.
  std::ofstream(config_, std::ios::trunc) << "audit_log = " << dir_.path() << "/audit.log\naudit_syslog = none\n";
  CommandResult none = Banger("image verify " + bad.ref);
  EXPECT_EQ(none.exit_status, 0) << none.output;
  EXPECT_NE(none.output.find(bad.ref + ": no signature policy"), std::string::npos) << none.output;
}

TEST_F(Signatures, AMultiPlatformImageIsAcceptedBySignaturesOfItsIndexOrOfThePlatformsManifest) {
  const std::vector<std::string> platforms = {"--platforms", "linux/amd64,linux/arm64"};
  const Pushed by_index = Push("signed/multi", 30, platforms);
  ASSERT_NE(by_index.digest, by_index.platform_digest);
  Sign("signed/multi", by_index.digest, "trusted", "--identity " + by_index.ref);
  ASSERT_EQ(Banger("image pull -q " + by_index.ref).exit_status, 0);
  EXPECT_EQ(Listed()[0]["signature"]["signed_digest"], by_index.digest);

  const Pushed by_platform = Push("signed/multi2", 31, platforms);
  Sign("signed/multi2", by_platform.platform_digest, "trusted", "--identity " + by_platform.ref);
  CommandResult pulled = Banger("image pull -q " + by_platform.ref);
  ASSERT_EQ(pulled.exit_status, 0) << pulled.output;
  bool found = false;
  for (const json& record : Listed()) found |= record["signature"]["signed_digest"] == by_platform.platform_digest;
  EXPECT_TRUE(found) << Listed().dump();
}

TEST_F(Signatures, AnOpenScopeNeedsNoSignatureAndAPolicyThatCannotBeReadStopsThePull) {
  const Pushed open = Push("open/app", 40);
  CommandResult pulled = Banger("image pull -q " + open.ref);
  ASSERT_EQ(pulled.exit_status, 0) << pulled.output;
  EXPECT_EQ(Listed()[0]["signature"]["requirements"], "insecureAcceptAnything");
  std::ofstream(policy_, std::ios::trunc) << R"({"default": [{"type": "sigstoreSigned", "keyPath": "relative.pub"}]})";
  CommandResult broken = Banger("image pull -q --name again " + open.ref);
  EXPECT_EQ(broken.exit_status, 1) << broken.output;
  EXPECT_NE(broken.output.find("signature policy " + policy_ + ": default [0]: keyPath \"relative.pub\" is not an absolute path"),
            std::string::npos)
      << broken.output;
  ::unlink(policy_.c_str());
  CommandResult missing = Banger("image pull -q --name again " + open.ref);
  EXPECT_EQ(missing.exit_status, 1) << "a policy the config names must be there: " << missing.output;
  EXPECT_NE(missing.output.find("signature policy: open " + policy_), std::string::npos) << missing.output;
}

}  // namespace
}  // namespace banger::testing
