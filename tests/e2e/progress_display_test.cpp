// The live progress display as a person sees it (#18): a throttled pull in a real
// terminal (Debian's tmux) at 160 and at 45 columns, its screen captured while it runs
// and after. No line may be wider than the pane (a wrapped line is a redraw that will
// scroll a copy), and no line may be on the screen twice (a copy that scrolled).
#include <unistd.h>

#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/registry_fixture.h"

namespace banger::testing {
namespace {

class ProgressDisplay : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    registry_ = TestRegistry::Start();
    ASSERT_TRUE(registry_);
    // Twelve incompressible layers of 400 kB through a proxy that sends 300 kB/s per
    // blob: several seconds of downloads, more blobs than the region shows at once.
    ASSERT_FALSE(registry_->Push("demo/slow", "v1", {"--layers", "12", "--layer-bytes", "400000"}).is_null());
    proxy_ = TestProxy::Start(registry_->host(), {"--slow-blobs", "300000"});
    ASSERT_TRUE(proxy_);
  }
  void TearDown() override { RunCommand(Tmux("kill-server") + " 2>/dev/null"); }

  std::string Tmux(const std::string& args) const { return "tmux -L " + socket_ + " " + args; }
  // The pane's lines, wrapped ones joined (-J): what was written as one line is one.
  std::vector<std::string> Capture(bool history) const {
    const std::string text = RunCommand(Tmux("capture-pane -p -J " + std::string(history ? "-S - " : "") + "-t pull")).output;
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      while (!line.empty() && line.back() == ' ') line.pop_back();
      lines.push_back(line);
    }
    return lines;
  }
  // No line twice, and every line of the display (indented: the blob rows and the
  // overall line) at most `columns` wide. A phase line or the summary is printed once
  // and may wrap.
  static std::string Problems(const std::vector<std::string>& lines, int columns) {
    std::string problems;
    std::set<std::string> seen;
    for (const std::string& line : lines) {
      if (line.empty()) continue;
      if (line.rfind("  ", 0) == 0 && line.size() > static_cast<size_t>(columns)) {
        problems += "wider than " + std::to_string(columns) + ": " + line + "\n";
      }
      if (!seen.insert(line).second) problems += "twice: " + line + "\n";
    }
    return problems;
  }

  std::unique_ptr<TestRegistry> registry_;
  std::unique_ptr<TestProxy> proxy_;
  ScratchDir state_{"banger-state"}, cache_{"banger-cache"};
  const std::string socket_ = "banger-test-" + std::to_string(::getpid());
};

TEST_P(ProgressDisplay, ALiveRegionThatFitsThePaneAndNeverScrollsACopy) {
  const int columns = GetParam();
  const std::string pull = BangerCommand(state_.path(), cache_.path()) + "image pull " + proxy_->host() + "/demo/slow:v1";
  ASSERT_EQ(RunCommand(Tmux("new-session -d -s pull -x " + std::to_string(columns) + " -y 40 \"" + pull +
                            "; echo BANGER-EXIT=\\$?; sleep 600\"")).exit_status,
            0);
  std::string problems;
  size_t captures = 0, moving = 0;
  std::string last;
  for (int i = 0; i < 600; ++i) {
    const std::vector<std::string> screen = Capture(false);
    std::string text;
    for (const std::string& line : screen) text += line + "\n";
    if (text.find("BANGER-EXIT=") != std::string::npos) {
      last = text;
      break;
    }
    ++captures;
    if (text.find("/s") != std::string::npos || text.find(" entries") != std::string::npos) ++moving;
    problems += Problems(screen, columns);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(last.find("BANGER-EXIT=0"), std::string::npos) << last;
  EXPECT_GT(moving, 5u) << "the display showed rates or counts in few captures (" << captures << "): " << last;
  EXPECT_EQ(problems, "");
  // The whole history: each phase and each blob's line once, the region gone.
  const std::vector<std::string> history = Capture(true);
  EXPECT_EQ(Problems(history, columns), "");
  std::string all;
  for (const std::string& line : history) all += line + "\n";
  for (const char* line : {"resolving ", "fetched 12 layer(s)", "unpacking 12 layer(s)", "wrote rootfs.ext4",
                           "pulled demo-slow-v1"}) {
    EXPECT_NE(all.find(line), std::string::npos) << line << " in " << all;
  }
  EXPECT_EQ(all.find("ETA"), std::string::npos) << "the region is erased at the end: " << all;
  EXPECT_EQ(all.find("blobs  "), std::string::npos) << "the overall line is erased at the end: " << all;
}

INSTANTIATE_TEST_SUITE_P(Columns, ProgressDisplay, ::testing::Values(160, 45),
                         [](const ::testing::TestParamInfo<int>& info) { return std::to_string(info.param); });

}  // namespace
}  // namespace banger::testing
