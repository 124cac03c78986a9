// Signatures and the trust policy against the real registry (docs/signatures.md): images
// pushed by the fixtures, signed by tests/fixtures/cosign.py as cosign's specs lay them out
// (Debian's skopeo has sigstore switched off), pulled by the built banger under a policy
// file. An accepted image records its verdict in image.json and the audit log; every
// refusal names the reference, the policy's scope and the reason, publishes nothing, and
// leaves none of the image's layers in the cache.
#include <unistd.h>

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

  const Pushed rejected = Push("other/app", 28);
  Sign("other/app", rejected.digest, "trusted", "--identity " + rejected.ref);
  ExpectRefused(rejected, "the policy rejects every image in this scope", "default");
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
