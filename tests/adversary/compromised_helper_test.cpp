// A helper compromised after lockdown may fail its own pull, but what it sends is
// decoded by the broker's typed decoders (ipc/unpack_protocol.h, image_protocol.h):
// a body of the wrong JSON type, a string where a number belongs, an out-of-bound value
// or an unknown key is that helper's named failure, exit 3, with nothing published and no
// staging left (invariant I9). Before the typed decoders, such a body made the root broker
// throw (nlohmann::json::type_error) and leave its staging directory behind.
#include <sys/stat.h>

#include <algorithm>
#include <fstream>

#include <gtest/gtest.h>

#include "tests/adversary/stand_in.h"
#include "tests/support/registry_fixture.h"

namespace banger::testing {
namespace {

#define DEEP_10 "[[[[[[[[[["
#define DEEP_LIST DEEP_10 DEEP_10 DEEP_10 DEEP_10 DEEP_10 DEEP_10 DEEP_10 DEEP_10 DEEP_10 DEEP_10

struct Scenario {
  const char* name;
  const char* helper;  // which helper the stand-in replaces
  const char* reply;   // its reply: the type's name, a newline, the body
  const char* says;    // what the one-line error must say
};

void PrintTo(const Scenario& s, std::ostream* out) { *out << s.name; }

class CompromisedHelper : public ::testing::TestWithParam<Scenario> {
 protected:
  void SetUp() override {
    registry_ = TestRegistry::Start();
    ASSERT_TRUE(registry_);
    ASSERT_FALSE(registry_->Push("demo/app", "v1", {"--layers", "2"}).is_null());
    std::ofstream(install_.helper_path(GetParam().helper) + ".reply") << GetParam().reply;
  }
  CommandResult Banger(const std::string& args) { return BangerIn(install_.dir(), state_.path(), cache_.path(), args); }
  std::unique_ptr<TestRegistry> registry_;
  StandInInstall install_{GetParam().helper, BANGER_COMPROMISED_HELPER};
  ScratchDir state_{"banger-state"}, cache_{"banger-cache"};
};

TEST_P(CompromisedHelper, ItsReplyIsItsNamedFailureAndNothingIsPublished) {
  CommandResult pull = Banger("image pull -q " + registry_->host() + "/demo/app:v1");
  EXPECT_EQ(pull.exit_status, 3) << pull.output;
  EXPECT_NE(pull.output.find(GetParam().says), std::string::npos) << pull.output;
  EXPECT_EQ(pull.output.find("internal error"), std::string::npos) << pull.output;
  for (const char* raw : {"\x1b", "\x07", "\xc2\x9b", "\xe2\x80\xae"}) {
    EXPECT_EQ(pull.output.find(raw), std::string::npos) << "a raw control reached the terminal: " << pull.output;
  }
  EXPECT_EQ(std::count(pull.output.begin(), pull.output.end(), '\n'), 1) << "one line: " << pull.output;
  EXPECT_EQ(RunCommand("ls -A " + state_.path() + "/images").output, "") << "no staging, no image";
  EXPECT_EQ(Banger("image list --json").output, "[]\n");
}

INSTANTIATE_TEST_SUITE_P(
    Replies, CompromisedHelper,
    ::testing::Values(
        Scenario{"UnpackDoneIsAList", "banger-unpacker", "unpack-done\n[]",
                 "banger-unpacker broke protocol: malformed unpack-done: not a JSON object"},
        Scenario{"UnpackDoneCountsInWords", "banger-unpacker",
                 "unpack-done\n{\"entries\": \"many\", \"inodes\": 1, \"directories\": 1, \"data_bytes\": 0, "
                 "\"apparent_bytes\": 0, \"metadata_bytes\": 0, \"uncompressed_bytes\": 0, \"spool_bytes\": 0, "
                 "\"warnings\": []}",
                 "banger-unpacker broke protocol: malformed unpack-done: 'entries' is not a whole number"},
        Scenario{"UnpackDoneClaimsAnInitOfItsOwn", "banger-unpacker",
                 "unpack-done\n{\"entries\": 1, \"inodes\": 1, \"directories\": 1, \"data_bytes\": 0, "
                 "\"apparent_bytes\": 0, \"metadata_bytes\": 0, \"uncompressed_bytes\": 0, \"spool_bytes\": 0, "
                 "\"warnings\": [], \"guest\": {\"init\": \"\\u001b[2J\", \"injected\": [], \"replaced\": []}}",
                 "banger-unpacker broke protocol: malformed unpack-done: guest: 'init' is not one of systemd, openrc"},
        Scenario{"UnpackProgressOfALayerThatIsNot", "banger-unpacker",
                 "unpack-progress\n{\"layer\": 99999, \"bytes\": 1, \"entries\": 1}",
                 "banger-unpacker broke protocol: malformed unpack-progress: 'layer' is over its bound"},
        Scenario{"UnpackProgressOfALayerTheImageLacks", "banger-unpacker",
                 "unpack-progress\n{\"layer\": 5, \"bytes\": 1, \"entries\": 1}",
                 "banger-unpacker broke protocol: unpack-progress names layer 5 of 2"},
        Scenario{"UnpackDoneNestedDeep", "banger-unpacker",
                 "unpack-done\n" DEEP_LIST,
                 "banger-unpacker broke protocol: malformed unpack-done: "},
        Scenario{"AReplyOutOfTurn", "banger-unpacker", "image-done\n{}",
                 "banger-unpacker broke protocol: it sent 'image-done' out of turn"},
        Scenario{"AnErrorFullOfEscapes", "banger-imager",
                 "error\n{\"message\": \"\\u001b]0;pwned\\u0007\\u001b[2J\\u009b31m\\u202eevil\\n2nd\", \"code\": 999}",
                 "\\x1b]0;pwned\\x07\\x1b[2J\\xc2\\x9b31m\\xe2\\x80\\xaeevil\\x0a2nd"},
        Scenario{"ImageDoneIsAString", "banger-imager", "image-done\n\"done\"",
                 "banger-imager broke protocol: malformed image-done: not a JSON object"},
        Scenario{"ImageDoneWithAnExtraKey", "banger-imager",
                 "image-done\n{\"filesystem_bytes\": 1, \"content_bytes\": 1, \"inodes\": 1, \"entries\": 1, "
                 "\"blocks_used\": 1, \"rootfs\": \"/etc/shadow\"}",
                 "banger-imager broke protocol: malformed image-done: unknown key 'rootfs'"}),
    [](const ::testing::TestParamInfo<Scenario>& info) { return std::string(info.param.name); });


// RLIMIT_FSIZE follows the pull: a compromised helper may not grow a file it was given
// past what the pull needs. The imager's bound is the filesystem the broker planned from
// the unpacked tree; the unpacker's, the spool's data bound (max_spool_bytes) with room
// for the tree stream. Before, only the sandbox's fixed 1 TiB and 256 GiB stood in the way.
struct Growth {
  const char* helper;
  const char* reply;
  const char* flags;
};

class FileGrowth : public ::testing::TestWithParam<Growth> {};

TEST_P(FileGrowth, StopsAtWhatThePullNeeds) {
  auto registry = TestRegistry::Start();
  ASSERT_TRUE(registry);
  ASSERT_FALSE(registry->Push("demo/app", "v1", {"--layers", "1"}).is_null());
  StandInInstall install{GetParam().helper, BANGER_COMPROMISED_HELPER};
  std::ofstream(install.helper_path(GetParam().helper) + ".reply") << GetParam().reply << "\n";
  ScratchDir state{"banger-state"}, cache{"banger-cache"};
  CommandResult pull = BangerIn(install.dir(), state.path(), cache.path(),
                                "image pull -q " + std::string(GetParam().flags) + registry->host() + "/demo/app:v1");
  EXPECT_NE(pull.exit_status, 0) << pull.output;
  EXPECT_NE(pull.output.find("writing past the file: File too large"), std::string::npos) << pull.output;
  EXPECT_EQ(RunCommand("ls -A " + state.path() + "/images").output, "") << "no staging, no image";
}

INSTANTIATE_TEST_SUITE_P(CompromisedHelper, FileGrowth,
                         ::testing::Values(Growth{"banger-imager", "grow-file 0", ""},
                                           Growth{"banger-unpacker", "grow-file 1", "--limit max_spool_bytes=1073741824 "}),
                         [](const auto& info) { return std::string(info.param.helper == std::string("banger-imager") ? "Imager" : "Unpacker"); });

// A helper that takes its request and says nothing more is stopped at the broker's own
// bound (max_unpack_seconds, here 1, plus the broker's grace: 5 s at such a bound), whatever bound
// the helper was meant to keep itself; nothing is published.
class Silence : public ::testing::TestWithParam<std::string> {};

TEST_P(Silence, IsStoppedAtTheBrokersTimeBound) {
  auto registry = TestRegistry::Start();
  ASSERT_TRUE(registry);
  ASSERT_FALSE(registry->Push("demo/app", "v1", {"--layers", "1"}).is_null());
  StandInInstall install{GetParam(), BANGER_COMPROMISED_HELPER};
  std::ofstream(install.helper_path(GetParam()) + ".reply") << "silent\n";
  ScratchDir state{"banger-state"}, cache{"banger-cache"};
  CommandResult pull = BangerIn(install.dir(), state.path(), cache.path(),
                                "image pull -q --limit max_unpack_seconds=1 " + registry->host() + "/demo/app:v1");
  EXPECT_NE(pull.exit_status, 0) << pull.output;
  EXPECT_NE(pull.output.find(GetParam() + " went past its time bound (max_unpack_seconds) and was stopped"),
            std::string::npos)
      << pull.output;
  EXPECT_EQ(RunCommand("ls -A " + state.path() + "/images").output, "") << "no staging, no image";
}

INSTANTIATE_TEST_SUITE_P(CompromisedHelper, Silence, ::testing::Values("banger-unpacker", "banger-imager"),
                         [](const auto& info) { return std::string(info.param == "banger-imager" ? "Imager" : "Unpacker"); });

}  // namespace
}  // namespace banger::testing
