// What a pull shows while it runs (docs/cli.md).
// - On a terminal: one live region at the bottom, redrawn in place and never wider than
//   the terminal (so it never wraps into copies of itself): a row per blob while they
//   download, and an overall line (bytes, rate, ETA; entries while unpacking; bytes
//   while writing). Phase lines and the finished blobs are printed above it, once.
// - Not on a terminal, or TERM=dumb: plain lines, one per phase and per finished blob.
// - --json: one JSON event per line (schema 1).
// - -q: nothing but the reference pulled at the end.
// Warnings go to stderr in every mode.
#pragma once

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "broker/pull/events.h"

namespace banger::broker {

class PullProgress : public PullObserver {
 public:
  enum class Mode { kTerminal, kPlain, kJson, kQuiet };
  // `columns`: the terminal's width (0: unknown, taken as 80).
  PullProgress(Mode mode, std::ostream& out, std::ostream& err, size_t columns = 0);

  // A phase of the pull: "resolving", "fetched", "unpacking", "unpacked", "written".
  void Phase(const std::string& phase, const std::string& text, const nlohmann::json& detail) override;
  void Fetch(const FetchEvent& event) override;
  void Unpack(size_t layer, uint64_t uncompressed_bytes, uint64_t entries) override;
  void Write(uint64_t written_bytes) override;
  void Warning(const std::string& text);
  // The closing line: the --json result object, the human summary, or with -q the
  // reference pulled (as docker pull -q prints it).
  void Result(const nlohmann::json& record, const std::string& human);

 private:
  using Clock = std::chrono::steady_clock;
  struct Row {
    std::string digest;
    uint64_t bytes = 0, total = 0;
    std::string state;  // waiting, downloading, cached, done
    Clock::time_point started = Clock::now();
  };
  void Emit(const nlohmann::json& event);
  // Above the region, for good: the region is erased, `lines` printed, and the region
  // drawn again.
  void PrintAbove(const std::vector<std::string>& lines);
  void Redraw(bool force);
  void Erase();
  std::vector<std::string> RegionLines() const;
  std::string RowText(const Row& row) const;
  std::string FetchTotals() const;
  std::string Fit(const std::string& line) const;

  Mode mode_;
  std::ostream& out_;
  std::ostream& err_;
  size_t columns_;
  std::vector<Row> rows_;
  std::map<std::string, size_t> row_of_;
  Clock::time_point fetch_started_{};
  std::string status_;  // the overall line after the downloads ("unpacking ...", "writing ...")
  size_t drawn_ = 0;    // lines of the region on screen, the cursor below them
  Clock::time_point last_draw_{};
  Clock::time_point last_json_progress_{};
};

}  // namespace banger::broker
