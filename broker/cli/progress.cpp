#include "broker/cli/progress.h"

#include <algorithm>
#include <cstdio>

#include "base/text.h"
#include "broker/cli/output.h"

namespace banger::broker {
namespace {

using nlohmann::json;

constexpr auto kRedrawEvery = std::chrono::milliseconds(100);
constexpr auto kJsonProgressEvery = std::chrono::milliseconds(500);
// Blob rows the region shows at most (the rest is one "and N more" line), so that it fits
// a small terminal's height too.
constexpr size_t kMaxRows = 8;

const char* KindName(FetchEvent::Kind kind) {
  switch (kind) {
    case FetchEvent::kResolved: return "resolved";
    case FetchEvent::kCached: return "cached";
    case FetchEvent::kWaiting: return "waiting";
    case FetchEvent::kStarted: return "downloading";
    case FetchEvent::kProgress: return "downloading";
    case FetchEvent::kDone: return "done";
  }
  return "?";
}

std::string Duration(double seconds) {
  if (!(seconds < 360000)) return ">100:00:00";  // a rate near nothing
  const auto s = static_cast<uint64_t>(seconds + 0.5);
  char text[32];
  if (s >= 3600) {
    std::snprintf(text, sizeof text, "%lu:%02lu:%02lu", static_cast<unsigned long>(s / 3600),
                  static_cast<unsigned long>(s / 60 % 60), static_cast<unsigned long>(s % 60));
  } else {
    std::snprintf(text, sizeof text, "%lu:%02lu", static_cast<unsigned long>(s / 60), static_cast<unsigned long>(s % 60));
  }
  return text;
}

}  // namespace

PullProgress::PullProgress(Mode mode, std::ostream& out, std::ostream& err, size_t columns)
    : mode_(mode), out_(out), err_(err), columns_(columns == 0 ? 80 : columns) {}

void PullProgress::Emit(const json& event) { EmitJsonEvent(out_, event); }

void PullProgress::Phase(const std::string& phase, const std::string& text, const json& detail) {
  switch (mode_) {
    case Mode::kQuiet: return;
    case Mode::kJson: {
      json event = {{"event", "phase"}, {"phase", phase}, {"message", text}};
      if (detail.is_object()) event.update(detail);
      Emit(event);
      return;
    }
    case Mode::kPlain: out_ << text << "\n" << std::flush; return;
    case Mode::kTerminal: break;
  }
  // The blobs' last state stays above, once, as the table it was; then the phase line,
  // whole (it wraps if it must: it is printed once, never redrawn).
  std::vector<std::string> lines;
  for (const Row& row : rows_) lines.push_back(Fit(RowText(row)));
  rows_.clear();
  row_of_.clear();
  lines.push_back(text);
  if (phase == "unpacking") {
    status_ = "  unpacking";
  } else if (phase == "unpacked") {
    status_ = "  writing rootfs.ext4";
  } else {
    status_.clear();
  }
  PrintAbove(lines);
}

void PullProgress::Fetch(const FetchEvent& event) {
  if (mode_ == Mode::kQuiet || event.kind == FetchEvent::kResolved) return;
  if (mode_ == Mode::kJson) {
    const auto now = Clock::now();
    if (event.kind == FetchEvent::kProgress) {
      if (now - last_json_progress_ < kJsonProgressEvery) return;
      last_json_progress_ = now;
    }
    Emit({{"event", "blob"}, {"digest", event.digest}, {"state", KindName(event.kind)}, {"bytes", event.bytes},
          {"total", event.total}});
    return;
  }
  if (mode_ == Mode::kPlain) {
    // One line per blob, once its fate is known.
    if (event.kind == FetchEvent::kCached || event.kind == FetchEvent::kDone || event.kind == FetchEvent::kWaiting) {
      out_ << "  " << event.digest.substr(0, 19) << "  " << HumanBytes(event.total) << "  "
           << (event.kind == FetchEvent::kWaiting ? "waiting for another pull's download" : KindName(event.kind))
           << "\n" << std::flush;
    }
    return;
  }
  auto [it, added] = row_of_.emplace(event.digest, rows_.size());
  if (added) rows_.push_back(Row{event.digest, 0, event.total, "", Clock::now()});
  Row& row = rows_[it->second];
  if (event.kind == FetchEvent::kStarted) {
    row.started = Clock::now();
    if (fetch_started_ == Clock::time_point{}) fetch_started_ = row.started;
  }
  row.bytes = event.bytes;
  row.total = event.total;
  row.state = KindName(event.kind);
  Redraw(event.kind != FetchEvent::kProgress);
}

void PullProgress::Unpack(size_t layer, uint64_t uncompressed_bytes, uint64_t entries) {
  const auto now = Clock::now();
  if (mode_ == Mode::kJson) {
    if (now - last_json_progress_ < kJsonProgressEvery) return;
    last_json_progress_ = now;
    Emit({{"event", "unpack"}, {"layer", layer}, {"bytes", uncompressed_bytes}, {"entries", entries}});
  } else if (mode_ == Mode::kTerminal) {
    status_ = "  unpacking layer " + std::to_string(layer + 1) + ": " + HumanBytes(uncompressed_bytes) + ", " +
              std::to_string(entries) + " entries";
    Redraw(false);
  }
}

void PullProgress::Write(uint64_t written_bytes) {
  const auto now = Clock::now();
  if (mode_ == Mode::kJson) {
    if (now - last_json_progress_ < kJsonProgressEvery) return;
    last_json_progress_ = now;
    Emit({{"event", "write"}, {"bytes", written_bytes}});
  } else if (mode_ == Mode::kTerminal) {
    status_ = "  writing rootfs.ext4: " + HumanBytes(written_bytes) + " written";
    Redraw(false);
  }
}

void PullProgress::Warning(const std::string& text) {
  Erase();
  err_ << "banger: warning: " << TerminalSafe(text) << "\n" << std::flush;
  Redraw(true);
}

void PullProgress::Result(const json& record, const std::string& human) {
  switch (mode_) {
    case Mode::kQuiet: out_ << TerminalSafe(record.value("ref", "")) << "\n" << std::flush; return;
    case Mode::kJson: {
      json result = record;
      result["event"] = "result";
      Emit(result);
      return;
    }
    case Mode::kPlain:
    case Mode::kTerminal:
      Erase();
      out_ << human << "\n" << std::flush;
      return;
  }
}

std::string PullProgress::RowText(const Row& row) const {
  std::string text = "  " + row.digest.substr(0, 19) + "  ";
  if (row.state == "downloading") {
    const double seconds = std::chrono::duration<double>(Clock::now() - row.started).count();
    const uint64_t rate = seconds > 0.05 ? static_cast<uint64_t>(static_cast<double>(row.bytes) / seconds) : 0;
    text += HumanBytes(row.bytes) + " / " + HumanBytes(row.total) + "  " + HumanBytes(rate) + "/s";
  } else if (row.state == "waiting") {
    text += HumanBytes(row.total) + "  waiting for another pull's download";
  } else {
    text += HumanBytes(row.total) + "  " + row.state;
  }
  return text;
}

// "  2/5 blobs  45.2 MiB / 78.0 MiB  12.3 MiB/s  ETA 0:03": every blob, cached ones done.
std::string PullProgress::FetchTotals() const {
  uint64_t total = 0, have = 0, downloaded = 0;
  size_t finished = 0;
  for (const Row& row : rows_) {
    total += row.total;
    const bool complete = row.state == "done" || row.state == "cached";
    have += complete ? row.total : row.bytes;
    if (row.state != "cached") downloaded += row.bytes;
    finished += complete ? 1 : 0;
  }
  std::string line = "  " + std::to_string(finished) + "/" + std::to_string(rows_.size()) + " blobs  " +
                     HumanBytes(have) + " / " + HumanBytes(total);
  if (fetch_started_ == Clock::time_point{}) return line;
  const double seconds = std::chrono::duration<double>(Clock::now() - fetch_started_).count();
  if (seconds < 0.2) return line;
  const double rate = static_cast<double>(downloaded) / seconds;
  line += "  " + HumanBytes(static_cast<uint64_t>(rate)) + "/s";
  if (rate > 0 && have < total) line += "  ETA " + Duration(static_cast<double>(total - have) / rate);
  return line;
}

std::vector<std::string> PullProgress::RegionLines() const {
  if (rows_.empty()) return status_.empty() ? std::vector<std::string>{} : std::vector<std::string>{status_};
  // The blobs still moving first, then the rest in the order they came.
  std::vector<const Row*> shown;
  for (const Row& row : rows_) {
    if (row.state == "downloading" || row.state == "waiting") shown.push_back(&row);
  }
  for (const Row& row : rows_) {
    if (row.state != "downloading" && row.state != "waiting") shown.push_back(&row);
  }
  std::vector<std::string> lines;
  for (size_t i = 0; i < shown.size() && i < kMaxRows; ++i) lines.push_back(RowText(*shown[i]));
  if (shown.size() > kMaxRows) lines.push_back("  and " + std::to_string(shown.size() - kMaxRows) + " more blobs");
  lines.push_back(FetchTotals());
  return lines;
}

// One column is kept free: a line exactly as wide as the terminal wraps on some.
std::string PullProgress::Fit(const std::string& line) const {
  const size_t width = columns_ > 1 ? columns_ - 1 : 1;
  return line.size() <= width ? line : line.substr(0, width);
}

void PullProgress::Erase() {
  if (mode_ != Mode::kTerminal || drawn_ == 0) return;
  out_ << "\x1b[" << drawn_ << "A\r\x1b[J" << std::flush;
  drawn_ = 0;
}

void PullProgress::PrintAbove(const std::vector<std::string>& lines) {
  Erase();
  for (const std::string& line : lines) out_ << TerminalSafe(line) << "\n";
  Redraw(true);
}

void PullProgress::Redraw(bool force) {
  if (mode_ != Mode::kTerminal) return;
  const auto now = Clock::now();
  if (!force && now - last_draw_ < kRedrawEvery) return;
  last_draw_ = now;
  std::string frame;
  if (drawn_ > 0) frame += "\x1b[" + std::to_string(drawn_) + "A";
  frame += "\r";
  const std::vector<std::string> lines = RegionLines();
  for (const std::string& line : lines) frame += "\x1b[2K" + Fit(line) + "\n";
  frame += "\x1b[J";  // what a longer region left below
  drawn_ = lines.size();
  out_ << frame << std::flush;
}

}  // namespace banger::broker
