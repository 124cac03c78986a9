#include "security/proc_status.h"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <cstdint>

#include "base/fd.h"

namespace banger::security {
namespace {

std::string_view FieldValue(std::string_view text, std::string_view key, bool* found) {
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(at, end - at);
    if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == ':') {
      *found = true;
      std::string_view value = line.substr(key.size() + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
      return value;
    }
    at = end + 1;
  }
  *found = false;
  return {};
}

template <class T>
Result<T> ParseNumber(std::string_view text, std::string_view key, int base = 10) {
  bool found = false;
  std::string_view value = FieldValue(text, key, &found);
  T out{};
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), out, base);
  if (!found || ec != std::errc() || ptr == value.data()) {
    return Error{ErrorCode::kMalformed, "/proc status has no readable '" + std::string(key) + "' field"};
  }
  return out;
}

template <class T>
Result<std::array<T, 4>> ParseIds(std::string_view text, std::string_view key) {
  bool found = false;
  std::string_view value = FieldValue(text, key, &found);
  std::array<T, 4> ids{};
  const char* p = value.data();
  const char* end = value.data() + value.size();
  for (auto& id : ids) {
    while (p < end && (*p == ' ' || *p == '\t')) ++p;
    auto [next, ec] = std::from_chars(p, end, id);
    if (!found || ec != std::errc()) {
      return Error{ErrorCode::kMalformed, "/proc status has no readable '" + std::string(key) + "' field"};
    }
    p = next;
  }
  return ids;
}

// "NSpid:\t4242\t1", "Groups:\t4 27 ": every number on the line (at most 64); none when
// the kernel has no such line.
template <class T>
Result<std::vector<T>> ParseNumberList(std::string_view text, const char* field) {
  bool found = false;
  std::string_view value = FieldValue(text, field, &found);
  std::vector<T> pids;
  const char* p = value.data();
  const char* end = value.data() + value.size();
  while (found && p < end && pids.size() < 64) {
    while (p < end && (*p == ' ' || *p == '\t')) ++p;
    if (p == end) break;
    T pid = 0;
    auto [next, ec] = std::from_chars(p, end, pid);
    if (ec != std::errc()) {
      return Error{ErrorCode::kMalformed, std::string("/proc status has an unreadable '") + field + "' field"};
    }
    pids.push_back(pid);
    p = next;
  }
  return pids;
}

std::string Hex(uint64_t v) {
  char buf[17];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, 16);
  return std::string(buf, end);
}

}  // namespace

Result<ProcStatus> ParseProcStatus(std::string_view text) {
  ProcStatus s;
  BANGER_ASSIGN_OR_RETURN(int nnp, ParseNumber<int>(text, "NoNewPrivs"));
  s.no_new_privs = nnp == 1;
  BANGER_ASSIGN_OR_RETURN(s.seccomp_mode, ParseNumber<int>(text, "Seccomp"));
  BANGER_ASSIGN_OR_RETURN(s.cap_inh, ParseNumber<uint64_t>(text, "CapInh", 16));
  BANGER_ASSIGN_OR_RETURN(s.cap_prm, ParseNumber<uint64_t>(text, "CapPrm", 16));
  BANGER_ASSIGN_OR_RETURN(s.cap_eff, ParseNumber<uint64_t>(text, "CapEff", 16));
  BANGER_ASSIGN_OR_RETURN(s.cap_bnd, ParseNumber<uint64_t>(text, "CapBnd", 16));
  BANGER_ASSIGN_OR_RETURN(s.cap_amb, ParseNumber<uint64_t>(text, "CapAmb", 16));
  BANGER_ASSIGN_OR_RETURN(s.uids, ParseIds<uid_t>(text, "Uid"));
  BANGER_ASSIGN_OR_RETURN(s.gids, ParseIds<gid_t>(text, "Gid"));
  BANGER_ASSIGN_OR_RETURN(s.namespace_pids, ParseNumberList<pid_t>(text, "NSpid"));
  BANGER_ASSIGN_OR_RETURN(s.groups, ParseNumberList<gid_t>(text, "Groups"));
  if (auto peak = ParseNumber<uint64_t>(text, "VmHWM")) s.peak_rss_kib = *peak;
  return s;
}

Result<ProcStatus> ReadProcStatus(pid_t pid) {
  BANGER_ASSIGN_OR_RETURN(std::string text, ReadSmallFile("/proc/" + std::to_string(pid) + "/status", 64 * 1024));
  return ParseProcStatus(text);
}

Result<FileSizeLimits> ParseFileSizeLimits(std::string_view text) {
  constexpr std::string_view kRow = "Max file size";
  const Error unreadable{ErrorCode::kMalformed, "/proc limits has no readable 'Max file size' row"};
  const size_t at = text.find(kRow);
  if (at == std::string_view::npos || (at != 0 && text[at - 1] != '\n')) return unreadable;
  std::string_view row = text.substr(at + kRow.size());
  row = row.substr(0, row.find('\n'));
  uint64_t values[2];
  for (uint64_t& value : values) {
    while (!row.empty() && row.front() == ' ') row.remove_prefix(1);
    if (row.starts_with("unlimited")) {
      value = UINT64_MAX;
      row.remove_prefix(9);
      continue;
    }
    auto [next, ec] = std::from_chars(row.data(), row.data() + row.size(), value);
    if (ec != std::errc() || next == row.data()) return unreadable;
    row.remove_prefix(static_cast<size_t>(next - row.data()));
  }
  return FileSizeLimits{values[0], values[1]};
}

Result<FileSizeLimits> ReadFileSizeLimits(pid_t pid) {
  BANGER_ASSIGN_OR_RETURN(std::string text, ReadSmallFile("/proc/" + std::to_string(pid) + "/limits", 16 * 1024));
  return ParseFileSizeLimits(text);
}

Result<void> VerifyConfined(const ProcStatus& s, const std::string& who) {
  std::string problems;
  auto flag = [&](bool bad, const std::string& what) {
    if (bad) problems += (problems.empty() ? "" : ", ") + what;
  };
  flag(!s.no_new_privs, "NoNewPrivs is 0");
  flag(s.seccomp_mode != 2, "Seccomp is " + std::to_string(s.seccomp_mode));
  flag(s.cap_eff != 0, "CapEff is " + Hex(s.cap_eff));
  flag(s.cap_prm != 0, "CapPrm is " + Hex(s.cap_prm));
  flag(s.cap_bnd != 0, "CapBnd is " + Hex(s.cap_bnd));
  flag(s.cap_inh != 0, "CapInh is " + Hex(s.cap_inh));
  flag(s.cap_amb != 0, "CapAmb is " + Hex(s.cap_amb));
  flag(!s.alone_in_pid_namespace(), "not PID 1 of a PID namespace of its own");
  for (uid_t uid : s.uids) {
    if (uid == 0) {
      flag(true, "runs as uid 0");
      break;
    }
  }
  if (problems.empty()) return {};
  return Error{ErrorCode::kSandbox, who + " is not confined: " + problems};
}

}  // namespace banger::security
