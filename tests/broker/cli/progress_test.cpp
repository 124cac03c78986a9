// What a pull prints, rendered into a string for each mode: --json events (one object a
// line), plain lines for logs, nothing with -q, and the redrawn terminal display.
#include "broker/cli/progress.h"

#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace banger::broker {
namespace {

using nlohmann::json;
using Mode = PullProgress::Mode;

const std::string kDigest = "sha256:" + std::string(64, 'a');
const std::string kOther = "sha256:" + std::string(64, 'b');

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::vector<json> JsonLines(const std::string& text) {
  std::vector<json> events;
  for (const std::string& line : Lines(text)) {
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
  progress.Fetch(Blob(FetchEvent::kResolved, kDigest, 0));
  progress.Fetch(Blob(FetchEvent::kCached, kOther, 0, 1 << 20));
  progress.Fetch(Blob(FetchEvent::kStarted, kDigest, 0));
  progress.Fetch(Blob(FetchEvent::kProgress, kDigest, 1 << 20));
  progress.Fetch(Blob(FetchEvent::kProgress, kDigest, 2 << 20));
  progress.Fetch(Blob(FetchEvent::kDone, kDigest, 3 << 20));
  progress.Phase("fetched", "fetched 2 blobs", json{{"blobs", 2}, {"bytes", 3 << 20}});
  progress.Unpack(0, 5000);
  progress.Warning("layer 2 has a device node");
  progress.Phase("written", "wrote rootfs.ext4", json::object());
  progress.Result(json{{"name", "alpine"}, {"id", "0123"}}, "pulled alpine (0123)");
}

TEST(PullProgress, JsonIsOneObjectALineEndingWithTheResult) {
  std::ostringstream out;
  PullProgress progress(Mode::kJson, out);
  DrivePull(progress);
  const std::vector<json> events = JsonLines(out.str());
  ASSERT_FALSE(events.empty());
  for (const json& e : events) EXPECT_TRUE(e.contains("event")) << e.dump();

  const json& first = events.front();
  EXPECT_EQ(first["event"], "phase");
  EXPECT_EQ(first["phase"], "resolving");
  EXPECT_EQ(first["message"], "resolving example.com/alpine:3");
  EXPECT_EQ(first["reference"], "example.com/alpine:3") << "the phase's detail keys are missing";

  const json& last = events.back();
  EXPECT_EQ(last["event"], "result");
  EXPECT_EQ(last["name"], "alpine");
  EXPECT_EQ(last["id"], "0123");

  int warnings = 0, fetched = 0;
  for (const json& e : events) {
    if (e["event"] == "warning") {
      ++warnings;
      EXPECT_EQ(e["message"], "layer 2 has a device node");
    }
    if (e["event"] == "phase" && e["phase"] == "fetched") {
      ++fetched;
      EXPECT_EQ(e["blobs"], 2);
    }
  }
  EXPECT_EQ(warnings, 1);
  EXPECT_EQ(fetched, 1);
  EXPECT_EQ(out.str().find('\x1b'), std::string::npos);
}

TEST(PullProgress, JsonReportsEveryBlobStateButRateLimitsProgress) {
  std::ostringstream out;
  PullProgress progress(Mode::kJson, out);
  progress.Fetch(Blob(FetchEvent::kResolved, kDigest, 0));
  progress.Fetch(Blob(FetchEvent::kStarted, kDigest, 0));
  for (uint64_t i = 1; i <= 50; ++i) progress.Fetch(Blob(FetchEvent::kProgress, kDigest, i * 1000));
  progress.Fetch(Blob(FetchEvent::kDone, kDigest, 3 << 20));
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
  std::ostringstream out;
  PullProgress progress(Mode::kPlain, out);
  DrivePull(progress);
  progress.Fetch(Blob(FetchEvent::kWaiting, kOther, 0, 1 << 20));
  const std::string text = out.str();
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << "an escape sequence in plain output";
  EXPECT_EQ(text.find('\r'), std::string::npos);

  const std::vector<std::string> lines = Lines(text);
  const std::string short_digest = kDigest.substr(0, 19);
  const std::string short_other = kOther.substr(0, 19);
  ASSERT_EQ(lines.size(), 8u) << text;
  EXPECT_EQ(lines[0], "resolving example.com/alpine:3");
  EXPECT_EQ(lines[1].find("  " + short_other), 0u) << lines[1];
  EXPECT_NE(lines[1].find("cached"), std::string::npos) << lines[1];
  EXPECT_EQ(lines[2].find("  " + short_digest), 0u) << lines[2];
  EXPECT_NE(lines[2].find("done"), std::string::npos) << lines[2];
  EXPECT_EQ(lines[3], "fetched 2 blobs");
  EXPECT_EQ(lines[4], "warning: layer 2 has a device node");
  EXPECT_EQ(lines[5], "wrote rootfs.ext4");
  EXPECT_EQ(lines[6], "pulled alpine (0123)");
  EXPECT_NE(lines[7].find("waiting for another pull's download"), std::string::npos) << lines[7];
  EXPECT_EQ(text.find(kDigest), std::string::npos) << "a whole digest where a short one goes";
}

TEST(PullProgress, QuietPrintsNothingAtAll) {
  std::ostringstream out;
  PullProgress progress(Mode::kQuiet, out);
  DrivePull(progress);
  progress.Fetch(Blob(FetchEvent::kWaiting, kOther, 0));
  EXPECT_EQ(out.str(), "");
}

TEST(PullProgress, TerminalRedrawsTheBlobRowsInPlace) {
  std::ostringstream out;
  PullProgress progress(Mode::kTerminal, out);
  progress.Fetch(Blob(FetchEvent::kStarted, kDigest, 0));
  const std::string after_one = out.str();
  EXPECT_EQ(after_one.find("\r\x1b[2K  " + kDigest.substr(0, 19)), 0u) << after_one;
  EXPECT_EQ(after_one.find("\x1b[1A"), std::string::npos) << "moved up before anything was drawn";

  progress.Fetch(Blob(FetchEvent::kStarted, kOther, 0));  // a second row: back up over the first
  const std::string after_two = out.str().substr(after_one.size());
  EXPECT_EQ(after_two.find("\x1b[1A"), 0u) << after_two;
  EXPECT_NE(after_two.find(kDigest.substr(0, 19)), std::string::npos) << "the first row was not redrawn";
  EXPECT_NE(after_two.find(kOther.substr(0, 19)), std::string::npos);

  progress.Fetch(Blob(FetchEvent::kDone, kDigest, 3 << 20));
  const std::string after_done = out.str().substr(after_one.size() + after_two.size());
  EXPECT_EQ(after_done.find("\x1b[2A"), 0u) << "two rows on screen, redrawn from the top: " << after_done;
  EXPECT_NE(after_done.find("done"), std::string::npos) << after_done;

  // A phase line goes below the rows, and the next redraw does not climb over it.
  progress.Phase("fetched", "fetched 2 blobs", json::object());
  EXPECT_NE(out.str().find("fetched 2 blobs\n"), std::string::npos);
  const size_t before = out.str().size();
  progress.Fetch(Blob(FetchEvent::kDone, kOther, 3 << 20));
  const std::string after_phase = out.str().substr(before);
  EXPECT_EQ(after_phase.find("\r\x1b[2K"), 0u) << after_phase;
  for (const char* up : {"\x1b[1A", "\x1b[2A"}) {
    EXPECT_EQ(after_phase.find(up), std::string::npos) << "climbed over the phase line: " << after_phase;
  }

  const size_t before_result = out.str().size();
  progress.Result(json::object(), "pulled alpine");
  EXPECT_EQ(out.str().substr(before_result), "\r\x1b[2Kpulled alpine\n");
}

}  // namespace
}  // namespace banger::broker
