// The audit trail of a root banger (docs/multi-tenant.md, "The audit log"), through the CLI
// against the real registry: each request that acts leaves a start and an end record with
// one id, the caller's uid and what it resolved; each record's hash reaches the syslog
// socket the config names (here one the test listens on), and `system audit verify` with
// the last of them as head passes; a log that cannot be written refuses the request.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "broker/store/audit_log.h"
#include "tests/support/registry_fixture.h"

namespace banger::testing {
namespace {

using nlohmann::json;

// A datagram socket at `path` that keeps what syslog would have been sent.
class SyslogListener {
 public:
  explicit SyslogListener(const std::string& path) : fd_(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    path.copy(address.sun_path, sizeof address.sun_path - 1);
    bound_ = fd_ && ::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  }
  bool bound() const { return bound_; }
  // Every datagram received so far.
  std::vector<std::string> Received() {
    std::vector<std::string> messages;
    char buffer[4096];
    for (ssize_t got; (got = ::recv(fd_.get(), buffer, sizeof buffer, 0)) > 0;) messages.emplace_back(buffer, got);
    return messages;
  }

 private:
  UniqueFd fd_;
  bool bound_ = false;
};

std::vector<std::string> Lines(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string HashOf(const std::string& line) { return broker::AuditLineHash(line); }

class Audit : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = TestRegistry::Start();
    ASSERT_TRUE(registry_);
    pushed_ = registry_->Push("demo/app", "v1", {"--layers", "2"});
    ASSERT_FALSE(pushed_.is_null());
    ASSERT_TRUE(syslog_.bound());
    std::ofstream(config_) << "audit_log = " << log_ << "\naudit_syslog = " << dir_.path() << "/syslog.sock\n";
  }
  CommandResult Banger(const std::string& args) {
    return RunCommand(BangerCommand(state_.path(), cache_.path(), "BANGER_CONFIG=" + config_) + args + " 2>&1");
  }
  std::vector<json> Records() {
    std::vector<json> records;
    for (const std::string& line : Lines(ReadFile(log_))) records.push_back(json::parse(line));
    return records;
  }

  std::unique_ptr<TestRegistry> registry_;
  json pushed_;
  ScratchDir dir_{"banger-audit"}, state_{"banger-state"}, cache_{"banger-cache"};
  std::string config_ = dir_.path() + "/config";
  std::string log_ = dir_.path() + "/log/audit.log";
  SyslogListener syslog_{dir_.path() + "/syslog.sock"};
};

TEST_F(Audit, EachRequestLeavesAStartAndAnEndAnchoredInSyslog) {
  const std::string ref = registry_->host() + "/demo/app:v1";
  CommandResult pull = Banger("image pull -q " + ref);
  ASSERT_EQ(pull.exit_status, 0) << pull.output;
  CommandResult failed = Banger("image pull -q " + registry_->host() + "/demo/absent:v1");
  ASSERT_NE(failed.exit_status, 0);
  CommandResult removed = Banger("image rm demo-app-v1");
  ASSERT_EQ(removed.exit_status, 0) << removed.output;
  EXPECT_EQ(Banger("image list").exit_status, 0);  // reads are not requests that act

  const std::vector<json> records = Records();
  ASSERT_EQ(records.size(), 6u) << ReadFile(log_);
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i]["event"], i % 2 == 0 ? "start" : "end") << i;
    EXPECT_EQ(records[i]["id"], records[i - i % 2]["id"]) << "start and end share the request's id";
    EXPECT_EQ(records[i]["uid"], 0);
    EXPECT_EQ(records[i]["user"], "root");
    EXPECT_EQ(records[i]["seq"], i + 1);
  }
  EXPECT_NE(records[0]["id"], records[2]["id"]);
  EXPECT_EQ(records[0]["request"], "image pull");
  EXPECT_EQ(records[0]["argv"], (json{"banger", "image", "pull", "-q", ref}));
  const json& pulled = records[1];
  EXPECT_EQ(pulled["result"], "ok");
  EXPECT_EQ(pulled["exit_status"], 0);
  EXPECT_EQ(pulled["reference"], ref);
  EXPECT_EQ(pulled["registry"], registry_->host());
  EXPECT_EQ(pulled["manifest_digest"], pushed_["images"]["linux/amd64"]["manifest_digest"]);
  EXPECT_EQ(pulled["config_digest"], pushed_["images"]["linux/amd64"]["config"]);
  EXPECT_EQ(pulled["image"], "demo-app-v1");
  EXPECT_FALSE(pulled.value("image_id", "").empty());
  const json& refused = records[3];
  EXPECT_EQ(refused["result"], "error");
  EXPECT_NE(refused.value("error", "").find("demo/absent"), std::string::npos) << refused.dump();
  EXPECT_EQ(records[5]["request"], "image rm");
  EXPECT_EQ(records[5]["removed"][0]["image_id"], pulled["image_id"]);

  // Syslog got one line per record, each naming its seq and the hash of its line.
  const std::vector<std::string> lines = Lines(ReadFile(log_));
  const std::vector<std::string> anchors = syslog_.Received();
  ASSERT_EQ(anchors.size(), lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(anchors[i].rfind("<86>", 0), 0u) << anchors[i];
    EXPECT_NE(anchors[i].find("banger-audit["), std::string::npos) << anchors[i];
    EXPECT_NE(anchors[i].find("seq=" + std::to_string(i + 1) + " sha256=" + HashOf(lines[i])), std::string::npos)
        << anchors[i];
  }
  CommandResult verified = Banger("system audit verify --head " + HashOf(lines.back()));
  EXPECT_EQ(verified.exit_status, 0) << verified.output;
  EXPECT_NE(verified.output.find("6 record(s), 1 to 6"), std::string::npos) << verified.output;

  // Cut short by its last record: the head from syslog is gone.
  std::ofstream(log_, std::ios::trunc) << lines[0] << "\n" << lines[1] << "\n" << lines[2] << "\n" << lines[3] << "\n"
                                        << lines[4] << "\n";
  CommandResult cut = Banger("system audit verify --head " + HashOf(lines.back()));
  EXPECT_EQ(cut.exit_status, 1) << cut.output;
  EXPECT_NE(cut.output.find("does not reach the head"), std::string::npos) << cut.output;
}

TEST_F(Audit, ALogThatCannotBeWrittenRefusesTheRequest) {
  std::ofstream(dir_.path() + "/log") << "a file where the log's directory should be\n";
  CommandResult pull = Banger("image pull -q " + registry_->host() + "/demo/app:v1");
  EXPECT_EQ(pull.exit_status, 1) << pull.output;
  EXPECT_NE(pull.output.find("banger: error: the audit log cannot record this request, so it is refused"),
            std::string::npos)
      << pull.output;
  EXPECT_EQ(RunCommand("! test -e " + state_.path() + "/images || ls -A " + state_.path() + "/images").output, "")
      << "nothing pulled";
  EXPECT_EQ(RunCommand("! test -e " + cache_.path() + "/oci || find " + cache_.path() + "/oci -type f -path '*blobs*'").output,
            "")
      << "nothing fetched";
}

}  // namespace
}  // namespace banger::testing
