// `banger image pull` through the CLI against the real distribution registry: publish,
// list, names, --force, --size, a cache-served re-pull, reproducible rootfs across state
// directories, and one-line errors.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "broker/host/config.h"
#include "tests/support/registry_fixture.h"

namespace banger::testing {
namespace {

class Pull : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = TestRegistry::Start();
    ASSERT_TRUE(registry_);
    pushed_ = registry_->Push("demo/app", "v1", {"--layers", "3"});
    ASSERT_FALSE(pushed_.is_null());
  }
  CommandResult Banger(const std::string& args, const std::string& state = "") {
    return RunCommand(BangerCommand(state.empty() ? state_.path() : state, cache_.path()) + args);
  }
  // What a command prints on stdout alone (braced: RunCommand sends the group's stderr to
  // stdout, not the command's).
  CommandResult Stdout(const std::string& args) {
    return RunCommand("{ " + BangerCommand(state_.path(), cache_.path()) + args + " 2>/dev/null; }");
  }
  std::string Ref() const { return registry_->host() + "/demo/app:v1"; }
  std::unique_ptr<TestRegistry> registry_;
  nlohmann::json pushed_;
  ScratchDir state_{"banger-state"};
  ScratchDir cache_{"banger-cache"};
};

TEST_F(Pull, PublishesAListedCheckedRootfs) {
  CommandResult pull = Banger("image pull --json --kernel-ref generic-6.12 " + Ref());
  ASSERT_EQ(pull.exit_status, 0) << pull.output;
  auto record = LastJsonLine(pull.output);
  EXPECT_EQ(record["event"], "result");
  EXPECT_NE(pull.output.find("{\"event\":\"phase\","), std::string::npos) << "progress events come first";
  EXPECT_EQ(record["name"], "demo-app-v1") << "the default name comes from the reference";
  EXPECT_EQ(record["manifest_digest"], pushed_["images"]["linux/amd64"]["manifest_digest"]);
  EXPECT_EQ(record["kernel_ref"], "generic-6.12");
  EXPECT_EQ(record["filesystem_bytes"], 1ull << 30);
  const std::string rootfs = record["rootfs"];
  EXPECT_EQ(rootfs, state_.path() + "/images/" + record["id"].get<std::string>() + "/rootfs.ext4");
  // Written directly and through the cache, then flushed and dropped: a reader gets the
  // disk's bytes, never a stale cached block (docs/imager.md).
  UniqueFd published(::open(rootfs.c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_EQ(ResidentPages(published.get()), 0u) << "the published image's page cache is dropped";
  EXPECT_EQ(RunCommand("e2fsck -fn " + rootfs).exit_status, 0);
  CommandResult list = Banger("image list");
  EXPECT_NE(list.output.find("demo-app-v1"), std::string::npos) << list.output;
  auto listed = nlohmann::json::parse(Banger("image list --json").output);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["ref"], Ref());
  // What the sparse rootfs takes on disk, not its apparent 1 GiB (#18), and where it is.
  EXPECT_EQ(listed[0]["rootfs"], rootfs);
  const uint64_t allocated = listed[0]["allocated_bytes"];
  EXPECT_GT(allocated, 0u);
  EXPECT_LT(allocated, 256ull << 20) << "a few small layers take little of the 1 GiB filesystem";
  EXPECT_EQ(list.output.find("1.0 GiB"), std::string::npos) << "SIZE shows the allocated size: " << list.output;
  CommandResult leftovers = RunCommand("ls " + state_.path() + "/images | grep -c staging");
  EXPECT_EQ(leftovers.output, "0\n") << "no staging directory is left behind";
}

// A name says where an image came from (#18): the namespace is in it, so demo/app and
// other/app do not collide; when a name is taken, the error says by what, and hints
// --force only when that is this reference again (else --force would clobber the other).
TEST_F(Pull, DuplicateNamesNeedForceAndNamespacesDoNotCollide) {
  CommandResult first = Stdout("image pull -q " + Ref());
  ASSERT_EQ(first.exit_status, 0) << first.output;
  EXPECT_EQ(first.output, Ref() + "\n") << "-q prints the reference, as docker pull -q does";
  CommandResult again = Banger("image pull -q " + Ref());
  EXPECT_EQ(again.exit_status, 1);
  EXPECT_EQ(again.output, "banger: error: an image named 'demo-app-v1' was pulled from " + Ref() +
                              " already (--force pulls it again)\n");
  CommandResult forced = Banger("image pull -q --force " + Ref());
  EXPECT_EQ(forced.exit_status, 0) << forced.output;
  EXPECT_EQ(nlohmann::json::parse(Banger("image list --json").output).size(), 1u) << "replaced, not added";
  ASSERT_FALSE(registry_->Push("other/app", "v1", {"--layers", "1"}).is_null());
  const std::string other = registry_->host() + "/other/app:v1";
  EXPECT_EQ(Banger("image pull -q " + other).exit_status, 0) << "other/app:v1 is other-app-v1";
  CommandResult clash = Banger("image pull -q --name demo-app-v1 " + other);
  EXPECT_EQ(clash.exit_status, 1);
  EXPECT_EQ(clash.output, "banger: error: an image named 'demo-app-v1' exists, pulled from " + Ref() + "; give " + other +
                              " another name with --name (--force would replace that image)\n");
  EXPECT_EQ(Banger("image pull -q --name mine " + Ref()).exit_status, 0);
  const auto names = nlohmann::json::parse(Banger("image list --json").output);
  ASSERT_EQ(names.size(), 3u);
  EXPECT_EQ(names[0]["name"], "demo-app-v1");
  EXPECT_EQ(names[1]["name"], "mine");
  EXPECT_EQ(names[2]["name"], "other-app-v1");
}

TEST_F(Pull, RepullFromCacheMakesNoBlobRequestAndGivesTheSameRootfs) {
  ScratchDir second_state("banger-state2");
  auto first = LastJsonLine(Banger("image pull --json " + Ref()).output);
  const int blob_gets = registry_->CountInLog("GET /v2/demo/app/blobs/");
  auto second = LastJsonLine(Banger("image pull --json " + Ref(), second_state.path()).output);
  EXPECT_EQ(registry_->CountInLog("GET /v2/demo/app/blobs/"), blob_gets) << "served from the cache";
  const std::string a = RunCommand("sha256sum " + first["rootfs"].get<std::string>()).output.substr(0, 64);
  const std::string b = RunCommand("sha256sum " + second["rootfs"].get<std::string>()).output.substr(0, 64);
  EXPECT_EQ(a, b) << "two pulls into two state dirs give the same rootfs.ext4";
}

TEST_F(Pull, ProgressOnATerminalAndOffIt) {
  // Not a terminal: one plain line per phase and per blob, no escape sequences.
  CommandResult plain = Banger("image pull " + Ref());
  ASSERT_EQ(plain.exit_status, 0) << plain.output;
  EXPECT_EQ(plain.output.find('\x1b'), std::string::npos) << plain.output;
  for (const char* line : {"resolving ", "fetched 3 layer(s)", "unpacking 3 layer(s)", "unpacked ", "wrote rootfs.ext4",
                           "pulled demo-app-v1: "}) {
    EXPECT_NE(plain.output.find(line), std::string::npos) << line << " in " << plain.output;
  }
  // A terminal (script(1) gives banger a pty): live lines redrawn in place with rates.
  const auto on_a_terminal = [&](const std::string& term, const std::string& name) {
    return RunCommand("script -qec '" + std::string("TERM=") + term + " BANGER_STATE_DIR=" + state_.path() +
                      " BANGER_CACHE_DIR=" + ScratchDir("banger-cache-tty").path() + " DOCKER_CONFIG=" + cache_.path() +
                      " " + kBin + "/banger image pull --name " + name + " " + Ref() + "' /dev/null");
  };
  CommandResult tty = on_a_terminal("xterm", "on-tty");
  ASSERT_EQ(tty.exit_status, 0) << tty.output;
  EXPECT_NE(tty.output.find("\x1b[2K"), std::string::npos) << "lines are cleared and redrawn";
  EXPECT_NE(tty.output.find("  done"), std::string::npos) << tty.output;
  EXPECT_NE(tty.output.find("pulled on-tty: "), std::string::npos) << tty.output;
  // TERM=dumb takes no escapes: plain lines, as off a terminal (#18).
  CommandResult dumb = on_a_terminal("dumb", "on-dumb");
  ASSERT_EQ(dumb.exit_status, 0) << dumb.output;
  EXPECT_EQ(dumb.output.find('\x1b'), std::string::npos) << dumb.output;
  EXPECT_NE(dumb.output.find("pulled on-dumb: "), std::string::npos) << dumb.output;
  // -q: the reference alone on stdout, as docker pull -q prints it; a warning on stderr.
  EXPECT_EQ(Stdout("image pull -q --name quiet " + Ref()).output, Ref() + "\n");
  CommandResult warned = RunCommand("{ " + BangerCommand(state_.path(), cache_.path()) + "image pull -q --name quiet2 " +
                                    Ref() + " >/dev/null; }");
  EXPECT_EQ(warned.output.rfind("banger: warning: the image has neither systemd nor OpenRC", 0), 0u) << warned.output;
}

TEST_F(Pull, ConfiguredMirrorsAreAskedFirstThenTheRegistry) {
  auto mirror = TestRegistry::Start();
  ASSERT_TRUE(mirror);
  ASSERT_FALSE(mirror->Push("demo/app", "v1", {"--layers", "3"}).is_null()) << "the same image (same seed)";
  const std::string config = cache_.path() + "/banger.conf";
  std::ofstream(config) << "mirrors = " << registry_->host() << "=" << mirror->host() << "\n";
  const int upstream_gets = registry_->CountInLog("GET /v2/demo/app/blobs/");
  const std::string with_config = BangerCommand(state_.path(), cache_.path(), "BANGER_CONFIG=" + config);
  CommandResult via = RunCommand(with_config + "image pull --json " + Ref());
  ASSERT_EQ(via.exit_status, 0) << via.output;
  EXPECT_EQ(LastJsonLine(via.output)["mirror"], mirror->host());
  EXPECT_EQ(registry_->CountInLog("GET /v2/demo/app/blobs/"), upstream_gets) << "the registry sent no blob";
  EXPECT_GT(mirror->CountInLog("GET /v2/demo/app/blobs/"), 0);
  // An image the mirror lacks comes from the registry itself.
  ASSERT_FALSE(registry_->Push("demo/only-upstream", "v1", {"--seed", "5"}).is_null());
  CommandResult fallback =
      RunCommand(with_config + "image pull --json " + registry_->host() + "/demo/only-upstream:v1");
  ASSERT_EQ(fallback.exit_status, 0) << fallback.output;
  EXPECT_FALSE(LastJsonLine(fallback.output).contains("mirror"));
}

TEST_F(Pull, SizeFlag) {
  auto big = LastJsonLine(Banger("image pull --json --size 2048 " + Ref()).output);
  EXPECT_EQ(big["filesystem_bytes"], 2048ull << 20);
  struct stat st {};
  ASSERT_EQ(::stat(big["rootfs"].get<std::string>().c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), 2048ull << 20);
  CommandResult tiny = Banger("image pull -q --name tiny --size 17M " + Ref());
  EXPECT_EQ(tiny.exit_status, 1);
  EXPECT_NE(tiny.output.find("is too small"), std::string::npos) << tiny.output;
  EXPECT_EQ(Banger("image pull --size lots " + Ref()).exit_status, 2);
}

TEST_F(Pull, ErrorsAreOneLineNamingTheReference) {
  CommandResult missing = Banger("image pull " + registry_->host() + "/demo/none:v1");
  EXPECT_EQ(missing.exit_status, 1);
  EXPECT_NE(missing.output.find("banger: error: manifest unknown"), std::string::npos) << missing.output;
  CommandResult bad = Banger("image pull 'Bad Ref'");
  EXPECT_EQ(bad.exit_status, 1);
  EXPECT_EQ(bad.output.rfind("banger: error: invalid reference", 0), 0u) << bad.output;
  EXPECT_EQ(Banger("image pull").exit_status, 2);
  EXPECT_EQ(Banger("image pull a b").exit_status, 2);
}

TEST_F(Pull, AFailedUnpackPublishesNothingAndLeavesNoScratch) {
  ASSERT_FALSE(registry_->Push("demo/bad", "v1", {"--bad-diff-id"}).is_null());
  ScratchDir tmp("banger-tmpdir");
  CommandResult pull = RunCommand("TMPDIR=" + tmp.path() + " BANGER_STATE_DIR=" + state_.path() + " BANGER_CACHE_DIR=" +
                                  cache_.path() + " DOCKER_CONFIG=" + cache_.path() + " " + kBin +
                                  "/banger image pull " + registry_->host() + "/demo/bad:v1");
  EXPECT_EQ(pull.exit_status, 1) << pull.output;
  EXPECT_NE(pull.output.find("layer sha256:"), std::string::npos) << "the error names the layer: " << pull.output;
  EXPECT_NE(pull.output.find("(diff_id)"), std::string::npos) << pull.output;
  EXPECT_EQ(nlohmann::json::parse(Banger("image list --json").output).size(), 0u) << "nothing published";
  EXPECT_EQ(RunCommand("ls -A " + state_.path() + "/images").output, "") << "no staging left";
  EXPECT_EQ(RunCommand("ls -A " + tmp.path()).output, "") << "no scratch left";
}

TEST_F(Pull, UnpackBoundsAreAdjustableFromTheCommandLine) {
  CommandResult tight = Banger("image pull -q --limit max_entries=2 " + Ref());
  EXPECT_EQ(tight.exit_status, 1);
  EXPECT_NE(tight.output.find("the entry bound"), std::string::npos) << tight.output;
  EXPECT_EQ(Banger("image pull -q --limit max_entries=100 " + Ref()).exit_status, 0);
  EXPECT_EQ(Banger("image pull --limit nonsense=1 " + Ref()).exit_status, 2);
  EXPECT_EQ(Banger("image pull --limit max_unpack_seconds=x " + Ref()).exit_status, 2);
  EXPECT_EQ(Banger("image pull --limit max_ratio=1000 " + Ref()).exit_status, 2) << "no ratio bound any more";
}

// An image is named as docker names one (#18): by name, by ID, by an unambiguous ID
// prefix, or by the reference it was pulled from; an ambiguous one names the candidates.
TEST_F(Pull, InspectAndRemoveTakeANameAnIdAPrefixOrAReference) {
  ASSERT_EQ(Banger("image pull -q " + Ref()).exit_status, 0);
  CommandResult inspect = Banger("image inspect demo-app-v1");
  ASSERT_EQ(inspect.exit_status, 0) << inspect.output;
  auto record = nlohmann::json::parse(inspect.output);
  EXPECT_EQ(record["ref"], Ref());
  const std::string rootfs = record["rootfs"];
  const std::string id = record["id"];
  for (const std::string& name : {id, id.substr(0, 6), Ref(), registry_->host() + "/demo/app@" +
                                                                   record["manifest_digest"].get<std::string>()}) {
    CommandResult by = Banger("image inspect " + name + " 2>&1");
    ASSERT_EQ(by.exit_status, 0) << name << ": " << by.output;
    EXPECT_EQ(nlohmann::json::parse(by.output)["id"], id) << name;
  }
  CommandResult missing = Banger("image inspect nope");
  EXPECT_EQ(missing.exit_status, 1);
  EXPECT_EQ(missing.output, "banger: error: no image named 'nope'\n");
  CommandResult unknown_ref = Banger("image inspect " + registry_->host() + "/demo/app:v2");
  EXPECT_EQ(unknown_ref.exit_status, 1);
  EXPECT_EQ(unknown_ref.output, "banger: error: no image named '" + registry_->host() + "/demo/app:v2'\n");
  // Two images of one reference: the reference names neither, and the error names both.
  ASSERT_EQ(Banger("image pull -q --name second " + Ref()).exit_status, 0);
  CommandResult ambiguous = Banger("image rm " + Ref());
  EXPECT_EQ(ambiguous.exit_status, 1);
  EXPECT_NE(ambiguous.output.find("banger: error: '" + Ref() + "' is the reference of 2 images: demo-app-v1 ("),
            std::string::npos)
      << ambiguous.output;
  EXPECT_NE(ambiguous.output.find("second ("), std::string::npos) << ambiguous.output;
  EXPECT_EQ(nlohmann::json::parse(Banger("image list --json").output).size(), 2u) << "an ambiguous rm removes nothing";
  CommandResult rm = Banger("image rm " + id.substr(0, 8) + " second");
  EXPECT_EQ(rm.exit_status, 0) << rm.output;
  EXPECT_EQ(rm.output.rfind("removed demo-app-v1 (" + id + ")\nremoved second (", 0), 0u) << rm.output;
  EXPECT_NE(::access(rootfs.c_str(), F_OK), 0) << "the rootfs is gone";
  EXPECT_EQ(nlohmann::json::parse(Banger("image list --json").output).size(), 0u);
  EXPECT_EQ(Banger("image rm demo-app-v1").exit_status, 1);
}

TEST(ParseSize, UnitsAndBareMebibytes) {
  EXPECT_EQ(*broker::ParseSize("4GiB"), 4ull << 30);
  EXPECT_EQ(*broker::ParseSize("4G"), 4ull << 30);
  EXPECT_EQ(*broker::ParseSize("2048"), 2048ull << 20);
  EXPECT_EQ(*broker::ParseSize("512MiB"), 512ull << 20);
  EXPECT_EQ(*broker::ParseSize("1.5G"), 3ull << 29);
  EXPECT_EQ(*broker::ParseSize("1T"), 1ull << 40);
  for (const char* bad : {"", "GiB", "-1", "4X", "4 GiB", "0"}) EXPECT_FALSE(broker::ParseSize(bad)) << bad;
}

}  // namespace
}  // namespace banger::testing
