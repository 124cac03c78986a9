// A fetcher compromised after lockdown keeps every descriptor the broker gave it and,
// once its downloads are done, rewrites each one (compromised_fetcher_main.cpp). Verified
// bytes stay verified (invariant I8): the fetcher only ever held pipes, so its pull
// succeeds, every blob in the cache still hashes to its name, and a clean pull from that
// cache is byte-identical to one from a fresh cache. Before the pipes, the fetcher held
// the cache files themselves and rewrote blobs the broker had already linked in.
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/adversary/stand_in.h"
#include "tests/support/registry_fixture.h"

namespace banger::testing {
namespace {

// "name hash" for every blob in the cache whose bytes do not hash to its name.
std::string BlobsThatDoNotMatchTheirNames(const std::string& cache) {
  return RunCommand("cd " + cache + "/oci/blobs/sha256 && for f in *; do h=$(sha256sum < \"$f\" | cut -c1-64); "
                    "[ \"$h\" = \"$f\" ] || echo \"$f $h\"; done")
      .output;
}

std::string RootfsOf(const CommandResult& pull) {
  const std::string& out = pull.output;
  const size_t start = out.rfind('\n', out.size() >= 2 ? out.size() - 2 : 0);
  const std::string line = out.substr(start == std::string::npos ? 0 : start + 1);
  auto record = nlohmann::json::parse(line, nullptr, false);
  if (record.is_discarded() || !record.contains("rootfs")) return "/no rootfs in the output";
  return record["rootfs"].get<std::string>();
}

TEST(CompromisedFetcher, RewritingEveryFdItHadLeavesTheCacheVerified) {
  auto registry = TestRegistry::Start();
  ASSERT_TRUE(registry);
  ASSERT_FALSE(registry->Push("demo/app", "v1", {"--layers", "3"}).is_null());
  const std::string ref = registry->host() + "/demo/app:v1";
  StandInInstall compromised("banger-fetcher", BANGER_COMPROMISED_FETCHER);
  std::ofstream(compromised.helper_path("banger-fetcher") + ".attack") << "rewrite-fds\n";
  ScratchDir cache("banger-cache"), state("banger-state"), clean_state("banger-state"), fresh_cache("banger-cache"),
      fresh_state("banger-state");

  CommandResult attacked = BangerIn(compromised.dir(), state.path(), cache.path(), "image pull -q " + ref);
  EXPECT_EQ(attacked.exit_status, 0) << "the broker never gave it anything a write could break: " << attacked.output;
  ASSERT_NE(RunCommand("ls " + cache.path() + "/oci/blobs/sha256 | wc -l").output, "0\n");
  EXPECT_EQ(BlobsThatDoNotMatchTheirNames(cache.path()), "") << "cache blobs rewritten after they were verified";

  // The real helpers from here on: the touched cache, and a fresh one.
  CommandResult reused = BangerIn(BANGER_BIN_DIR, clean_state.path(), cache.path(), "image pull --json " + ref);
  ASSERT_EQ(reused.exit_status, 0) << reused.output;
  CommandResult fresh = BangerIn(BANGER_BIN_DIR, fresh_state.path(), fresh_cache.path(), "image pull --json " + ref);
  ASSERT_EQ(fresh.exit_status, 0) << fresh.output;
  CommandResult compared = RunCommand("cmp " + RootfsOf(reused) + " " + RootfsOf(fresh));
  EXPECT_EQ(compared.exit_status, 0) << compared.output;
}

// A fetcher that takes each blob's pipe and then says nothing holds the pull only until
// the broker's own deadline for that blob (download_grace_seconds, then min_download_rate
// on average): the fetcher's silence is not the broker's to wait out.
TEST(CompromisedFetcher, StallingEveryBlobIsStoppedAtTheBrokersDeadline) {
  auto registry = TestRegistry::Start();
  ASSERT_TRUE(registry);
  ASSERT_FALSE(registry->Push("demo/app", "v1", {"--layers", "2"}).is_null());
  StandInInstall compromised("banger-fetcher", BANGER_COMPROMISED_FETCHER);
  std::ofstream(compromised.helper_path("banger-fetcher") + ".attack") << "stall-blobs\n";
  ScratchDir cache("banger-cache"), state("banger-state"), config("banger-config");
  std::ofstream(config.path() + "/config") << "download_grace_seconds = 1\nmin_download_rate = 1048576\n";
  CommandResult pull = BangerIn(compromised.dir(), state.path(), cache.path(),
                                "image pull -q " + registry->host() + "/demo/app:v1", "BANGER_CONFIG=" + config.path() + "/config");
  EXPECT_NE(pull.exit_status, 0) << pull.output;
  // The blob's deadline spoke, not the 15 minutes of silence (past the test's timeout).
  EXPECT_NE(pull.output.find("bytes arrived in the time the slowest allowed rate"), std::string::npos) << pull.output;
  EXPECT_EQ(RunCommand("ls -A " + state.path() + "/images").output, "") << "nothing published";
  EXPECT_EQ(BlobsThatDoNotMatchTheirNames(cache.path()), "") << "the cache holds only what the broker verified";
}

// A digest reference pins the manifest: the broker hashes the bytes the fetcher hands over
// and refuses any other manifest, however honestly the fetcher hashed it. Before, only the
// fetcher compared them.
TEST(CompromisedFetcher, AnotherManifestForADigestReferenceIsAProtocolBreak) {
  auto registry = TestRegistry::Start();
  ASSERT_TRUE(registry);
  auto v1 = registry->Push("demo/app", "v1", {"--layers", "1"});
  ASSERT_FALSE(v1.is_null());
  ASSERT_FALSE(registry->Push("demo/app", "evil", {"--layers", "2"}).is_null());
  StandInInstall compromised("banger-fetcher", BANGER_COMPROMISED_FETCHER);
  std::ofstream(compromised.helper_path("banger-fetcher") + ".attack") << "resolve evil\n";
  ScratchDir cache("banger-cache"), state("banger-state");
  const std::string digest = v1["images"]["linux/amd64"]["manifest_digest"];
  CommandResult pull =
      BangerIn(compromised.dir(), state.path(), cache.path(), "image pull -q " + registry->host() + "/demo/app@" + digest);
  EXPECT_EQ(pull.exit_status, 3) << pull.output;
  EXPECT_NE(pull.output.find("banger-fetcher broke protocol: it resolved"), std::string::npos) << pull.output;
  EXPECT_EQ(RunCommand("ls -A " + state.path() + "/images").output, "") << "nothing published";
}

// A digest reference that names an index pins the index too: the broker hashes every
// document the fetcher hands over, and the first must be the one the reference names.
// Before, a fetcher that reported an index platform skipped the broker's pin.
TEST(CompromisedFetcher, AnotherIndexForAnIndexDigestIsAProtocolBreak) {
  auto registry = TestRegistry::Start();
  ASSERT_TRUE(registry);
  auto v1 = registry->Push("demo/app", "v1", {"--layers", "1", "--index", "oci"});
  ASSERT_FALSE(v1.is_null());
  ASSERT_FALSE(registry->Push("demo/app", "evil", {"--layers", "2", "--index", "oci", "--seed", "9"}).is_null());
  StandInInstall compromised("banger-fetcher", BANGER_COMPROMISED_FETCHER);
  std::ofstream(compromised.helper_path("banger-fetcher") + ".attack") << "resolve evil\n";
  ScratchDir cache("banger-cache"), state("banger-state");
  const std::string digest = v1["index_digest"];
  CommandResult pull =
      BangerIn(compromised.dir(), state.path(), cache.path(), "image pull -q " + registry->host() + "/demo/app@" + digest);
  EXPECT_EQ(pull.exit_status, 3) << pull.output;
  EXPECT_NE(pull.output.find("banger-fetcher broke protocol: it resolved"), std::string::npos) << pull.output;
  EXPECT_EQ(RunCommand("ls -A " + state.path() + "/images").output, "") << "nothing published";
}

// The broker derives the plan (layers, order, sizes, media types, config, platform) from
// the documents it hashed, and the fetcher's must be exactly that plan. Before, a plan was
// accepted when each digest it named appeared somewhere in the manifest's text, so a
// fetcher could drop, reorder or repeat layers, or claim another platform.
class PlanLie : public ::testing::TestWithParam<const char*> {};

TEST_P(PlanLie, IsAProtocolBreakAndPublishesNothing) {
  auto registry = TestRegistry::Start();
  ASSERT_TRUE(registry);
  ASSERT_FALSE(registry->Push("demo/app", "v1", {"--layers", "3", "--index", "oci"}).is_null());
  StandInInstall compromised("banger-fetcher", BANGER_COMPROMISED_FETCHER);
  std::ofstream(compromised.helper_path("banger-fetcher") + ".attack") << "plan " << GetParam() << "\n";
  ScratchDir cache("banger-cache"), state("banger-state");
  CommandResult pull = BangerIn(compromised.dir(), state.path(), cache.path(), "image pull -q " + registry->host() + "/demo/app:v1");
  EXPECT_EQ(pull.exit_status, 3) << pull.output;
  EXPECT_NE(pull.output.find("banger-fetcher broke protocol: its plan differs from its documents in"), std::string::npos)
      << pull.output;
  EXPECT_EQ(RunCommand("ls -A " + state.path() + "/images").output, "") << "nothing published";
  EXPECT_EQ(RunCommand("ls -A " + cache.path() + "/oci/blobs/sha256 2>/dev/null | wc -l").output, "0\n")
      << "no blob downloaded before the plan was checked";
}

INSTANTIATE_TEST_SUITE_P(CompromisedFetcher, PlanLie,
                         ::testing::Values("drop-layer", "reorder-layers", "duplicate-layer", "platform", "layer-size"),
                         [](const auto& info) {
                           std::string name = info.param;
                           name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
                           return name;
                         });

}  // namespace
}  // namespace banger::testing

namespace banger::testing {
namespace {

// A fetcher cannot make an image pass a signature policy: a signature manifest and payload
// of its own making, for exactly the digest asked about, still needs a key of the policy's
// to have signed it; and a document it says is longer than what it wrote is its lie.
TEST(CompromisedFetcher, AForgedSignatureIsRefusedAndALyingDocumentSizeIsAProtocolBreak) {
  auto registry = TestRegistry::Start();
  ASSERT_TRUE(registry);
  auto pushed = registry->Push("signed/app", "v1", {"--layers", "2"});
  ASSERT_FALSE(pushed.is_null());
  ScratchDir keys("banger-keys");
  CommandResult made = RunCommand("/usr/bin/python3 " + FixturesDir() + "/cosign.py keygen --kind ecdsa-p256 --private " +
                                  keys.path() + "/k.key --public " + keys.path() + "/k.pub 2>&1");
  ASSERT_EQ(made.exit_status, 0) << made.output;
  std::ofstream(keys.path() + "/policy.json")
      << R"({"default": [{"type": "sigstoreSigned", "keyPath": ")" << keys.path()
      << R"(/k.pub", "signedIdentity": {"type": "matchRepository"}}]})";
  const std::string ref = registry->host() + "/signed/app:v1";
  for (const std::string attack : {"forge-signature", "document-size"}) {
    StandInInstall compromised("banger-fetcher", BANGER_COMPROMISED_FETCHER);
    std::ofstream(compromised.helper_path("banger-fetcher") + ".attack") << attack << "\n";
    ScratchDir cache("banger-cache"), state("banger-state");
    CommandResult pull = BangerIn(compromised.dir(), state.path(), cache.path(),
                                  "image pull -q --signature-policy " + keys.path() + "/policy.json " + ref);
    if (attack == "forge-signature") {
      EXPECT_EQ(pull.exit_status, 1) << pull.output;
      EXPECT_NE(pull.output.find("banger: error: the signature policy refuses " + ref +
                                 ": no signature verifies with the policy's key"),
                std::string::npos)
          << pull.output;
    } else {
      EXPECT_EQ(pull.exit_status, 3) << pull.output;
      EXPECT_NE(pull.output.find("banger-fetcher broke protocol: the document it wrote is not the size it said"),
                std::string::npos)
          << pull.output;
    }
    EXPECT_EQ(RunCommand("ls -A " + state.path() + "/images").output, "") << attack << ": nothing published";
    for (const auto& layer : pushed["images"]["linux/amd64"]["layers"]) {
      const std::string digest = layer["digest"];
      EXPECT_NE(::access((cache.path() + "/oci/blobs/sha256/" + digest.substr(7)).c_str(), F_OK), 0)
          << attack << ": layer fetched before the verdict";
    }
    if (RunCommand("ls -A " + cache.path() + "/oci/blobs/sha256 2>/dev/null").output != "") {
      EXPECT_EQ(BlobsThatDoNotMatchTheirNames(cache.path()), "") << attack;
    }
  }
}

}  // namespace
}  // namespace banger::testing
