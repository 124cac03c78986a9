// The platform an image.json records is the image's own (its config's os, architecture
// and variant), never the flag's; a --platform that a single image is not refuses, as
// docker does; and an image banger's guest agent cannot run in gets no agent.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/registry_fixture.h"

namespace banger::testing {
namespace {

using nlohmann::json;

class Platforms : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = TestRegistry::Start();
    ASSERT_TRUE(registry_);
  }
  CommandResult Banger(const std::string& args) { return RunCommand(BangerCommand(state_.path(), cache_.path()) + args); }
  json Pushed(const std::string& repo, std::vector<std::string> args) {
    json pushed = registry_->Push(repo, "v1", std::move(args));
    EXPECT_FALSE(pushed.is_null());
    return pushed;
  }
  // The last line of a --json pull: the record, or the error.
  json PullJson(const std::string& args) { return LastJsonLine(Banger("image pull --json " + args).output); }
  int LayerGets(const std::string& repo, const json& image) {
    int gets = 0;
    for (const json& layer : image["layers"]) {
      gets += registry_->CountInLog("GET /v2/" + repo + "/blobs/" + layer["digest"].get<std::string>());
    }
    return gets;
  }

  std::unique_ptr<TestRegistry> registry_;
  ScratchDir state_{"banger-state"}, cache_{"banger-cache"};
};

TEST_F(Platforms, ASingleImageIsRecordedAsItsConfigSays) {
  Pushed("demo/amd", {"--layers", "1"});
  json record = PullJson(registry_->host() + "/demo/amd:v1");
  EXPECT_EQ(record["platform"], "linux/amd64");
  CommandResult foreign = Banger("image pull -q --name w --platform windows/s390x " + registry_->host() + "/demo/amd:v1");
  EXPECT_EQ(foreign.exit_status, 1) << foreign.output;
  EXPECT_NE(foreign.output.find("/demo/amd:v1 is linux/amd64, not the requested windows/s390x (it names one image"),
            std::string::npos)
      << foreign.output;
  EXPECT_EQ(json::parse(Banger("image list --json").output).size(), 1u) << "nothing published for the refusal";
  CommandResult matching = Banger("image pull -q --name m --platform linux/amd64 " + registry_->host() + "/demo/amd:v1");
  EXPECT_EQ(matching.exit_status, 0) << matching.output;
}

TEST_F(Platforms, AnArm64ImageByDigestIsArm64AndGetsNoForeignAgent) {
  json pushed = Pushed("demo/arm", {"--layers", "2", "--platforms", "linux/arm64/v8"});
  const json& image = pushed["images"]["linux/arm64/v8"];
  const std::string by_digest = registry_->host() + "/demo/arm@" + image["manifest_digest"].get<std::string>();
  CommandResult refused = Banger("image pull -q --name arm " + by_digest);
  EXPECT_EQ(refused.exit_status, 1) << refused.output;
  EXPECT_NE(refused.output.find("is linux/arm64/v8: banger's guest agent is built for linux/amd64 only; use "
                                "--no-guest-assets"),
            std::string::npos)
      << refused.output;
  EXPECT_EQ(LayerGets("demo/arm", image), 0) << "refused before a layer was downloaded";
  json record = PullJson("--name arm --no-guest-assets " + by_digest);
  EXPECT_EQ(record["platform"], "linux/arm64/v8") << record.dump();
  EXPECT_EQ(LayerGets("demo/arm", image), 2) << "the counter sees downloads: both layers, once";
  EXPECT_FALSE(record.contains("guest")) << "no guest files at all";
  const std::string rootfs = record["rootfs"];
  EXPECT_NE(RunCommand("debugfs -R 'stat /usr/local/bin/banger-vsock-agent' " + rootfs + " 2>&1").output.find(
                "File not found"),
            std::string::npos);
}

TEST_F(Platforms, AnIndexGivesTheAskedPlatformAndItsConfigMustAgree) {
  Pushed("demo/multi", {"--platforms", "linux/amd64,linux/arm64/v8", "--index", "oci"});
  EXPECT_EQ(PullJson(registry_->host() + "/demo/multi:v1")["platform"], "linux/amd64");
  EXPECT_EQ(PullJson("--name multi-arm --no-guest-assets --platform linux/arm64 " + registry_->host() +
                     "/demo/multi:v1")["platform"],
            "linux/arm64/v8");
  // An index whose entry claims linux/amd64 for an arm64 image.
  Pushed("demo/liar", {"--platforms", "linux/arm64", "--index", "oci", "--index-says", "linux/amd64"});
  CommandResult lie = Banger("image pull -q --no-guest-assets " + registry_->host() + "/demo/liar:v1");
  EXPECT_EQ(lie.exit_status, 1) << lie.output;
  EXPECT_NE(lie.output.find("as linux/amd64, but its config says linux/arm64"), std::string::npos) << lie.output;
}

}  // namespace
}  // namespace banger::testing
