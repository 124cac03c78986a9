#include "broker/cli/progress.h"

#include <cstdio>

#include "base/json.h"
#include "base/text.h"

namespace banger::broker {
namespace {

using nlohmann::json;

constexpr auto kRedrawEvery = std::chrono::milliseconds(100);
constexpr auto kJsonProgressEvery = std::chrono::milliseconds(500);

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

}  // namespace

void PullProgress::Emit(const json& event) {
  out_ << DumpJson(event) << "\n" << std::flush;
}

void PullProgress::Phase(const std::string& phase, const std::string& text, const json& detail) {
  switch (mode_) {
    case Mode::kQuiet: return;
    case Mode::kJson: {
      json event = {{"event", "phase"}, {"phase", phase}, {"message", text}};
      if (detail.is_object()) event.update(detail);
      Emit(event);
      return;
    }
    case Mode::kTerminal:
      Redraw(true);
      drawn_ = 0;  // the blob rows stay above; phases follow them
      [[fallthrough]];
    case Mode::kPlain: out_ << text << "\n" << std::flush; return;
  }
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
  if (event.kind == FetchEvent::kStarted) row.started = Clock::now();
  row.bytes = event.bytes;
  row.total = event.total;
  row.state = KindName(event.kind);
  Redraw(event.kind != FetchEvent::kProgress);
}

void PullProgress::Unpack(size_t layer, uint64_t uncompressed_bytes) {
  if (mode_ == Mode::kJson) {
    const auto now = Clock::now();
    if (now - last_json_progress_ < kJsonProgressEvery) return;
    last_json_progress_ = now;
    Emit({{"event", "unpack"}, {"layer", layer}, {"bytes", uncompressed_bytes}});
  } else if (mode_ == Mode::kTerminal) {
    const auto now = Clock::now();
    if (now - last_draw_ < kRedrawEvery) return;
    last_draw_ = now;
    out_ << "\r\x1b[2K  unpacking layer " << layer + 1 << ": " << HumanBytes(uncompressed_bytes) << std::flush;
    drawn_ = 0;
  }
}

void PullProgress::Warning(const std::string& text) {
  if (mode_ == Mode::kQuiet) return;
  if (mode_ == Mode::kJson) {
    Emit({{"event", "warning"}, {"message", text}});
  } else {
    if (mode_ == Mode::kTerminal) out_ << "\r\x1b[2K";
    out_ << "warning: " << TerminalSafe(text) << "\n" << std::flush;
  }
}

void PullProgress::Result(const json& record, const std::string& human) {
  if (mode_ == Mode::kQuiet) return;
  if (mode_ == Mode::kJson) {
    json result = record;
    result["event"] = "result";
    Emit(result);
    return;
  }
  if (mode_ == Mode::kTerminal) out_ << "\r\x1b[2K";
  out_ << human << "\n" << std::flush;
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

void PullProgress::Redraw(bool force) {
  if (mode_ != Mode::kTerminal) return;
  const auto now = Clock::now();
  if (!force && now - last_draw_ < kRedrawEvery) return;
  last_draw_ = now;
  if (drawn_ > 0) out_ << "\x1b[" << drawn_ << "A";
  for (const Row& row : rows_) out_ << "\r\x1b[2K" << RowText(row) << "\n";
  drawn_ = rows_.size();
  out_ << std::flush;
}

}  // namespace banger::broker
