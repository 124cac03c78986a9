// The catalog fast path through the CLI: a bundle made by `banger image bundle` from an
// OCI pull, served with its catalog from a loopback HTTP server, pulled back by name to
// a byte-identical rootfs.ext4; hostile or broken bundles fail by name and publish
// nothing; a catalog name never falls through to a registry.
#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/registry_fixture.h"

namespace banger::testing {
namespace {

using nlohmann::json;


class Catalog : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = TestRegistry::Start();
    ASSERT_TRUE(registry_);
    ASSERT_FALSE(registry_->Push("demo/app", "v1", {"--layers", "2"}).is_null());
    ASSERT_TRUE(server_.Start({"/usr/bin/python3", FixturesDir() + "/static_server.py", "--dir", served_.path(),
                               "--log", served_.path() + "/../" + "static-" + std::to_string(::getpid()) + ".log"}));
    base_ = "http://127.0.0.1:" + std::to_string(server_.port());
  }
  CommandResult Banger(const std::string& args) {
    return RunCommand(BangerCommand(state_.path(), cache_.path(), "BANGER_CATALOG=" + base_ + "/catalog.json") + args);
  }
  void WriteCatalog(const json& entries) {
    std::ofstream(served_.path() + "/catalog.json") << json{{"version", 1}, {"entries", entries}}.dump();
  }
  // A hostile bundle from tests/fixtures/bundle.py, served, with its catalog entry.
  json HostileEntry(const std::string& name, const std::string& kind) {
    const std::string rootfs = work_.path() + "/small.ext4";
    RunCommand("head -c 1048576 /dev/urandom > " + rootfs);
    CommandResult made = RunCommand("/usr/bin/python3 " + FixturesDir() + "/bundle.py --out " + served_.path() + "/" +
                                    name + ".tar.zst --rootfs " + rootfs + " --name " + name + " --kind " + kind);
    EXPECT_EQ(made.exit_status, 0) << made.output;
    json sums = json::parse(made.output);
    return {{"name", name}, {"url", base_ + "/" + name + ".tar.zst"}, {"sha256", sums["sha256"]},
            {"size", sums["size"]}, {"arch", "amd64"}};
  }
  size_t Published() { return json::parse(Banger("image list --json").output).size(); }

  std::unique_ptr<TestRegistry> registry_;
  FixtureProcess server_;
  std::string base_;
  ScratchDir state_{"banger-state"}, cache_{"banger-cache"}, served_{"banger-served"}, work_{"banger-catalog"};
};

TEST_F(Catalog, BundleServePullRoundTripsToTheSameRootfs) {
  WriteCatalog(json::array());
  auto pulled = LastJsonLine(Banger("image pull --json " + registry_->host() + "/demo/app:v1").output);
  ASSERT_EQ(pulled["event"], "result");
  CommandResult bundle = Banger("image bundle demo-app-v1 --out " + served_.path() + "/app.tar.zst --url " + base_ +
                                "/app.tar.zst --distro demo --description 'the test app'");
  ASSERT_EQ(bundle.exit_status, 0) << bundle.output;
  json entry = json::parse(bundle.output);
  EXPECT_EQ(entry["arch"], "amd64");
  EXPECT_EQ(entry["size"], RunCommand("stat -c %s " + served_.path() + "/app.tar.zst").output == "" ? 0 :
            std::stoull(RunCommand("stat -c %s " + served_.path() + "/app.tar.zst").output));
  // An existing --out is kept unless --force (#18: it was overwritten silently).
  const std::string before = RunCommand("sha256sum " + served_.path() + "/app.tar.zst").output;
  CommandResult kept = Banger("image bundle " + pulled["id"].get<std::string>() + " --out " + served_.path() +
                              "/app.tar.zst --distro other");
  EXPECT_EQ(kept.exit_status, 1);
  EXPECT_EQ(kept.output, "banger: error: " + served_.path() + "/app.tar.zst exists (--force replaces it)\n");
  EXPECT_EQ(RunCommand("sha256sum " + served_.path() + "/app.tar.zst").output, before) << "the file was kept";
  CommandResult forced = Banger("image bundle " + pulled["id"].get<std::string>() + " --force --out " + served_.path() +
                                "/app.tar.zst --url " + base_ + "/app.tar.zst --distro demo --description 'the test app'");
  ASSERT_EQ(forced.exit_status, 0) << forced.output;
  EXPECT_EQ(json::parse(forced.output)["name"], "demo-app-v1") << "an ID names the image, and the bundle has its name";
  EXPECT_EQ(RunCommand("sha256sum " + served_.path() + "/app.tar.zst").output, before) << "the same bytes again";
  entry["name"] = "app-cat";
  entry["kernel_ref"] = "generic-6.1";
  WriteCatalog(json::array({entry}));

  CommandResult listed = Banger("image catalog");
  ASSERT_EQ(listed.exit_status, 0) << listed.output;
  EXPECT_NE(listed.output.find("app-cat"), std::string::npos) << listed.output;
  EXPECT_NE(listed.output.find("the test app"), std::string::npos) << listed.output;

  CommandResult pull = Banger("image pull --json app-cat");
  ASSERT_EQ(pull.exit_status, 0) << pull.output;
  json record = LastJsonLine(pull.output);
  EXPECT_EQ(record["source"], "catalog");
  EXPECT_EQ(record["bundle_digest"], "sha256:" + entry["sha256"].get<std::string>());
  EXPECT_EQ(record["kernel_ref"], "generic-6.1") << "the entry's kernel_ref";
  EXPECT_EQ(record["name"], "app-cat");
  const std::string a = RunCommand("sha256sum < " + pulled["rootfs"].get<std::string>()).output;
  const std::string b = RunCommand("sha256sum < " + record["rootfs"].get<std::string>()).output;
  EXPECT_EQ(a, b) << "bundle -> serve -> catalog pull gives a byte-identical rootfs.ext4";
  EXPECT_EQ(RunCommand("e2fsck -fn " + record["rootfs"].get<std::string>()).exit_status, 0);
  // The same bundle again comes from the cache; --kernel-ref overrides the entry's.
  CommandResult again = Banger("image pull --json --name app-cat2 --kernel-ref other-k app-cat");
  ASSERT_EQ(again.exit_status, 0) << again.output;
  EXPECT_EQ(LastJsonLine(again.output)["kernel_ref"], "other-k");
  EXPECT_NE(again.output.find("\"state\":\"cached\""), std::string::npos) << again.output;
  EXPECT_EQ(Banger("image pull --size 2G app-cat").exit_status, 1) << "--size does not apply to a bundle";
}

TEST_F(Catalog, BrokenAndHostileBundlesFailByNameAndPublishNothing) {
  json wrong_sha = HostileEntry("wrong-sha", "good");
  wrong_sha["sha256"] = std::string(64, 'a');
  json truncated = HostileEntry("truncated", "good");
  RunCommand("truncate -s 1000 " + served_.path() + "/truncated.tar.zst");
  json entries = json::array({wrong_sha, truncated, HostileEntry("extra", "extra"),
                              HostileEntry("traversal", "traversal"), HostileEntry("symlink", "symlink"),
                              HostileEntry("no-manifest", "no-manifest"), HostileEntry("plain", "plain")});
  WriteCatalog(entries);
  const std::map<std::string, std::string> expected = {
      {"wrong-sha", "digest mismatch"},
      {"truncated", "got 1000 bytes"},
      {"extra", "unexpected entry 'etc/passwd'"},
      {"traversal", "unexpected entry '../rootfs.ext4'"},
      {"symlink", "'rootfs.ext4' is not a regular file"},
      {"no-manifest", "no manifest.json"},
      {"plain", "not a zstd-compressed tar"}};
  for (const auto& [name, message] : expected) {
    CommandResult pull = Banger("image pull " + name);
    EXPECT_EQ(pull.exit_status, 1) << name << ": " << pull.output;
    EXPECT_NE(pull.output.find("banger: error: "), std::string::npos) << pull.output;
    EXPECT_NE(pull.output.find(message), std::string::npos) << name << ": " << pull.output;
  }
  EXPECT_EQ(Published(), 0u);
  EXPECT_EQ(RunCommand("ls -A " + state_.path() + "/images").output, "") << "no staging left";
  CommandResult blobs = RunCommand("ls " + cache_.path() + "/oci/blobs/sha256 | wc -l");
  EXPECT_EQ(blobs.output, "5\n") << "only the verified hostile bundles are cached, never the wrong or short ones";
}

TEST_F(Catalog, TheConfigNamesTheCatalogWhenNothingElseDoes) {
  WriteCatalog(json::array({HostileEntry("from-config", "good")}));
  const std::string config = work_.path() + "/config";
  std::ofstream(config) << "catalog = " << base_ << "/catalog.json\n";
  CommandResult listed = RunCommand("env -u BANGER_CATALOG BANGER_CONFIG=" + config + " BANGER_STATE_DIR=" +
                                    state_.path() + " " + kBin + "/banger image catalog --json");
  ASSERT_EQ(listed.exit_status, 0) << listed.output;
  auto doc = json::parse(listed.output);
  EXPECT_EQ(doc["source"], base_ + "/catalog.json");
  ASSERT_EQ(doc["entries"].size(), 1u);
  EXPECT_EQ(doc["entries"][0]["name"], "from-config");
}

TEST_F(Catalog, ACatalogNameNeverFallsThroughToARegistry) {
  CommandResult unreachable =
      RunCommand("env BANGER_STATE_DIR=" + state_.path() + " BANGER_CACHE_DIR=" + cache_.path() + " " + kBin +
                 "/banger image pull --catalog http://127.0.0.1:1/catalog.json debian-bookworm");
  EXPECT_EQ(unreachable.exit_status, 1);
  EXPECT_NE(unreachable.output.find("may be a catalog image"), std::string::npos) << unreachable.output;
  EXPECT_EQ(std::count(unreachable.output.begin(), unreachable.output.end(), '\n'), 1) << unreachable.output;
  WriteCatalog(json::array({{{"name", "broken"}, {"url", "ftp://x"}, {"sha256", "00"}, {"size", 1}}}));
  CommandResult bad = Banger("image catalog");
  EXPECT_EQ(bad.exit_status, 1);
  EXPECT_NE(bad.output.find("banger: error: catalog " + base_ + "/catalog.json: "), std::string::npos) << bad.output;
  EXPECT_EQ(Banger("image pull 'Not A Ref!'").exit_status, 1) << "neither a catalog name nor a reference";
}

}  // namespace
}  // namespace banger::testing
