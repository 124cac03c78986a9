// What a pull shows while it runs. On a terminal: a live line per blob (bytes/total and
// rate) redrawn in place, then one line per phase. Not on a terminal: one plain line
// per phase. --json: one JSON object per line for every event, the last one the result.
// -q: nothing but errors.
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
  PullProgress(Mode mode, std::ostream& out) : mode_(mode), out_(out) {}

  // A phase of the pull: "resolving", "fetched", "unpacking", "unpacked", "written".
  void Phase(const std::string& phase, const std::string& text, const nlohmann::json& detail) override;
  void Fetch(const FetchEvent& event) override;
  void Unpack(size_t layer, uint64_t uncompressed_bytes) override;
  void Warning(const std::string& text);
  // The closing line (the --json result object, or the human summary).
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
  void Redraw(bool force);
  std::string RowText(const Row& row) const;

  Mode mode_;
  std::ostream& out_;
  std::vector<Row> rows_;
  std::map<std::string, size_t> row_of_;
  size_t drawn_ = 0;  // rows currently on screen, for redrawing in place
  Clock::time_point last_draw_{};
  Clock::time_point last_json_progress_{};
};

}  // namespace banger::broker
