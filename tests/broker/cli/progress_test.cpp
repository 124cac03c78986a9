// What a pull prints, rendered into a string for each mode: --json events (one object a
// line), plain lines for logs, nothing with -q, and the redrawn terminal display.
#include "broker/cli/progress.h"

#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace banger::broker {
namespace {

using nlohmann::json;
using Mode = PullProgress::Mode;

const std::string kBlobDigest = "sha256:" + std::string(64, 'a');
const std::string kOther = "sha256:" + std::string(64, 'b');

std::vector<std::string> TextLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<json> JsonLines(const std::string& text) {
  std::vector<json> events;
  for (const std::string& line : TextLines(text)) {
    json event = json::parse(line, nullptr, /*allow_exceptions=*/false);
    EXPECT_TRUE(event.is_object()) << "not one JSON object: " << line;
    events.push_back(event);
  }
  return events;
}

FetchEvent Blob(FetchEvent::Kind kind, const std::string& digest, uint64_t bytes, uint64_t total = 3 << 20) {
  return FetchEvent{kind, digest, bytes, total};
}

// What every mode is fed: a pull from resolving to its result.
void DrivePull(PullProgress& progress) {
  progress.Phase("resolving", "resolving example.com/alpine:3", json{{"reference", "example.com/alpine:3"}});
  progress.Fetch(Blob(FetchEvent::kResolved, kBlobDigest, 0));
  progress.Fetch(Blob(FetchEvent::kCached, kOther, 0, 1 << 20));
  progress.Fetch(Blob(FetchEvent::kStarted, kBlobDigest, 0));
  progress.Fetch(Blob(FetchEvent::kProgress, kBlobDigest, 1 << 20));
  progress.Fetch(Blob(FetchEvent::kProgress, kBlobDigest, 2 << 20));
  progress.Fetch(Blob(FetchEvent::kDone, kBlobDigest, 3 << 20));
  progress.Phase("fetched", "fetched 2 blobs", json{{"blobs", 2}, {"bytes", 3 << 20}});
  progress.Unpack(0, 5000, 10);
  progress.Write(1 << 20);
  progress.Warning("layer 2 has a device node");
  progress.Phase("written", "wrote rootfs.ext4", json::object());
  progress.Result(json{{"name", "alpine"}, {"id", "0123"}, {"ref", "example.com/alpine:3"}}, "pulled alpine (0123)");
}

TEST(PullProgress, JsonIsOneObjectALineEndingWithTheResult) {
  std::ostringstream out, err;
  PullProgress progress(Mode::kJson, out, err);
  DrivePull(progress);
  const std::vector<json> events = JsonLines(out.str());
  ASSERT_FALSE(events.empty());
  for (const json& e : events) {
    EXPECT_TRUE(e.contains("event")) << e.dump();
    EXPECT_EQ(e["schema"], 1) << e.dump();
  }

  const json& first = events.front();
  EXPECT_EQ(first["event"], "phase");
  EXPECT_EQ(first["phase"], "resolving");
  EXPECT_EQ(first["message"], "resolving example.com/alpine:3");
  EXPECT_EQ(first["reference"], "example.com/alpine:3") << "the phase's detail keys are missing";

  const json& last = events.back();
  EXPECT_EQ(last["event"], "result");
  EXPECT_EQ(last["name"], "alpine");
  EXPECT_EQ(last["id"], "0123");

  int fetched = 0;
  for (const json& e : events) {
    EXPECT_NE(e["event"], "warning") << "a warning is a stderr line, which JsonDiagnostics makes an event";
    if (e["event"] == "phase" && e["phase"] == "fetched") {
      ++fetched;
      EXPECT_EQ(e["blobs"], 2);
    }
  }
  EXPECT_EQ(fetched, 1);
  EXPECT_EQ(err.str(), "banger: warning: layer 2 has a device node\n");
  EXPECT_EQ(out.str().find('\x1b'), std::string::npos);
}

TEST(PullProgress, JsonReportsEveryBlobStateButRateLimitsProgress) {
  std::ostringstream out, err;
  PullProgress progress(Mode::kJson, out, err);
  progress.Fetch(Blob(FetchEvent::kResolved, kBlobDigest, 0));
  progress.Fetch(Blob(FetchEvent::kStarted, kBlobDigest, 0));
  for (uint64_t i = 1; i <= 50; ++i) progress.Fetch(Blob(FetchEvent::kProgress, kBlobDigest, i * 1000));
  progress.Fetch(Blob(FetchEvent::kDone, kBlobDigest, 3 << 20));
  progress.Fetch(Blob(FetchEvent::kWaiting, kOther, 0));

  std::vector<std::string> states;
  for (const json& e : JsonLines(out.str())) {
    EXPECT_EQ(e["event"], "blob");
    EXPECT_EQ(e["total"], 3 << 20);
    states.push_back(e["state"].get<std::string>());
    if (e["state"] == "done") {
      EXPECT_EQ(e["bytes"], 3 << 20);
    }
  }
  // Resolved is not a blob's state; of 50 progress events at once, one gets through.
  EXPECT_EQ(states, (std::vector<std::string>{"downloading", "downloading", "done", "waiting"}));
}

TEST(PullProgress, PlainWritesALinePerPhaseAndPerFinishedBlobWithoutEscapes) {
  std::ostringstream out, err;
  PullProgress progress(Mode::kPlain, out, err);
  DrivePull(progress);
  progress.Fetch(Blob(FetchEvent::kWaiting, kOther, 0, 1 << 20));
  const std::string text = out.str();
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << "an escape sequence in plain output";
  EXPECT_EQ(text.find('\r'), std::string::npos);

  const std::vector<std::string> lines = TextLines(text);
  const std::string short_digest = kBlobDigest.substr(0, 19);
  const std::string short_other = kOther.substr(0, 19);
  ASSERT_EQ(lines.size(), 7u) << text;
  EXPECT_EQ(lines[0], "resolving example.com/alpine:3");
  EXPECT_EQ(lines[1].find("  " + short_other), 0u) << lines[1];
  EXPECT_NE(lines[1].find("cached"), std::string::npos) << lines[1];
  EXPECT_EQ(lines[2].find("  " + short_digest), 0u) << lines[2];
  EXPECT_NE(lines[2].find("done"), std::string::npos) << lines[2];
  EXPECT_EQ(lines[3], "fetched 2 blobs");
  EXPECT_EQ(lines[4], "wrote rootfs.ext4");
  EXPECT_EQ(lines[5], "pulled alpine (0123)");
  EXPECT_NE(lines[6].find("waiting for another pull's download"), std::string::npos) << lines[6];
  EXPECT_EQ(err.str(), "banger: warning: layer 2 has a device node\n") << "warnings go to stderr";
  EXPECT_EQ(text.find(kBlobDigest), std::string::npos) << "a whole digest where a short one goes";
}

TEST(PullProgress, QuietPrintsTheReferenceAndWarningsOnly) {
  std::ostringstream out, err;
  PullProgress progress(Mode::kQuiet, out, err);
  DrivePull(progress);
  progress.Fetch(Blob(FetchEvent::kWaiting, kOther, 0));
  EXPECT_EQ(out.str(), "example.com/alpine:3\n");
  EXPECT_EQ(err.str(), "banger: warning: layer 2 has a device node\n");
}

// A terminal as far as the display uses one: text, \n, \r, ESC[2K (clear the line),
// ESC[nA (up n lines), ESC[J (clear to the end of the screen), and wrapping at the width,
// which it counts (a wrapped line of the live region scrolls copies of it).
class VirtualTerminal {
 public:
  explicit VirtualTerminal(size_t columns) : columns_(columns), lines_(1) {}
  void Feed(const std::string& bytes) {
    for (size_t i = 0; i < bytes.size(); ++i) {
      const char c = bytes[i];
      if (c == '\x1b') {
        size_t end = bytes.find_first_of("AKJ", i);
        ASSERT_NE(end, std::string::npos) << "an escape the display does not use";
        const std::string arg = bytes.substr(i + 2, end - i - 2);
        if (bytes[end] == 'A') row_ -= std::min(row_, static_cast<size_t>(std::stoul(arg)));
        if (bytes[end] == 'K') lines_[row_].clear();
        if (bytes[end] == 'J') {
          lines_[row_].resize(std::min(lines_[row_].size(), column_));
          lines_.resize(row_ + 1);
        }
        i = end;
      } else if (c == '\r') {
        column_ = 0;
      } else if (c == '\n') {
        NextLine();
      } else {
        if (column_ >= columns_) {
          ++wraps_;
          NextLine();
        }
        std::string& line = lines_[row_];
        if (line.size() <= column_) line.resize(column_, ' ');
        if (column_ < line.size()) line[column_] = c; else line.push_back(c);
        ++column_;
      }
    }
  }
  std::vector<std::string> Screen() const { return lines_; }
  size_t wraps() const { return wraps_; }

 private:
  void NextLine() {
    ++row_;
    column_ = 0;
    if (row_ == lines_.size()) lines_.emplace_back();
  }
  size_t columns_, row_ = 0, column_ = 0, wraps_ = 0;
  std::vector<std::string> lines_;
};

std::string Duplicates(const std::vector<std::string>& screen) {
  std::set<std::string> seen;
  std::string twice;
  for (const std::string& line : screen) {
    if (!line.empty() && !seen.insert(line).second) twice += line + "\n";
  }
  return twice;
}

// The live region at 45 columns over a whole pull: it never wraps, never leaves a copy,
// shows at most eight blob rows with the overall line, and is gone at the end, with each
// blob's last state and each phase line printed once above it.
TEST(PullProgress, TerminalKeepsOneLiveRegionThatFitsAndLeavesNoCopy) {
  std::ostringstream out, err;
  PullProgress progress(Mode::kTerminal, out, err, 45);
  VirtualTerminal terminal(45);
  size_t fed = 0;
  const auto check = [&](const std::string& step) {
    terminal.Feed(out.str().substr(fed));
    fed = out.str().size();
    EXPECT_EQ(terminal.wraps(), 0u) << step;
    EXPECT_EQ(Duplicates(terminal.Screen()), "") << step;
  };
  std::vector<std::string> digests;
  for (int i = 0; i < 12; ++i) digests.push_back("sha256:" + std::string(1, static_cast<char>('a' + i)) + std::string(63, '0'));
  progress.Phase("resolving", "resolving example.com/app:1", json::object());
  check("resolving");
  for (const std::string& digest : digests) {
    progress.Fetch(Blob(FetchEvent::kStarted, digest, 0, 4 << 20));
    check("started");
  }
  for (const std::string& digest : digests) {
    progress.Fetch(Blob(FetchEvent::kProgress, digest, 1 << 20, 4 << 20));
    progress.Fetch(Blob(FetchEvent::kDone, digest, 4 << 20, 4 << 20));
    check("done");
  }
  std::vector<std::string> region = terminal.Screen();
  size_t rows = 0;
  for (const std::string& line : region) rows += line.rfind("  sha256:", 0) == 0 ? 1 : 0;
  EXPECT_EQ(rows, 8u) << "eight rows at most";
  EXPECT_NE(out.str().find("  and 4 more blobs"), std::string::npos);
  EXPECT_NE(out.str().find("  12/12 blobs  48.0 MiB / 48.0 MiB"), std::string::npos) << "the overall line";

  progress.Phase("fetched", "fetched 12 layer(s)", json::object());
  check("fetched");
  progress.Phase("unpacking", "unpacking 12 layer(s)", json::object());
  std::this_thread::sleep_for(std::chrono::milliseconds(150));  // past the redraw interval
  progress.Unpack(3, 5 << 20, 4096);
  check("unpack");
  EXPECT_NE(out.str().find("  unpacking layer 4: 5.0 MiB, 4096 entries"), std::string::npos);
  progress.Phase("unpacked", "unpacked 9000 entries", json::object());
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  progress.Write(7 << 20);
  check("write");
  EXPECT_NE(out.str().find("  writing rootfs.ext4: 7.0 MiB written"), std::string::npos);
  progress.Warning("a warning");
  check("warning");
  EXPECT_EQ(err.str(), "banger: warning: a warning\n");
  progress.Phase("written", "wrote rootfs.ext4", json::object());
  progress.Result(json::object(), "pulled app-1");
  check("result");

  std::vector<std::string> expected;
  expected.push_back("resolving example.com/app:1");
  for (const std::string& digest : digests) expected.push_back("  " + digest.substr(0, 19) + "  4.0 MiB  done");
  for (const char* line : {"fetched 12 layer(s)", "unpacking 12 layer(s)", "unpacked 9000 entries", "wrote rootfs.ext4",
                           "pulled app-1", ""}) {
    expected.push_back(line);
  }
  EXPECT_EQ(terminal.Screen(), expected);
}

}  // namespace
}  // namespace banger::broker
