#include "assets/agent/bootstrap_config.h"

#include <arpa/inet.h>
#include <net/if.h>

#include <charconv>
#include <map>

namespace banger::agent {
namespace {

constexpr size_t kMaxNameservers = 3;  // MAXNS of glibc and musl: more are ignored
constexpr size_t kMaxHostname = 64;    // HOST_NAME_MAX

std::string Quote(std::string_view text) { return "'" + std::string(text) + "'"; }

bool ParseIpv4(std::string_view text, in_addr* out) {
  const std::string copy(text);
  return !copy.empty() && ::inet_pton(AF_INET, copy.c_str(), out) == 1;
}

// RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens.
bool ValidHostname(std::string_view name) {
  if (name.empty() || name.size() > kMaxHostname) return false;
  size_t start = 0;
  for (;;) {
    const size_t dot = name.find('.', start);
    const std::string_view label = name.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
      if (!ok) return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool ValidIfaceName(std::string_view name) {
  if (name.empty() || name.size() >= IFNAMSIZ || name == "." || name == "..") return false;
  for (char c : name) {
    if (c == '/' || c == ':' || c <= ' ' || c == 127) return false;
  }
  return true;
}

std::string ParseAddress(std::string_view value, NetworkPlan* plan) {
  const size_t slash = value.find('/');
  int prefix = -1;
  if (slash != std::string_view::npos) {
    const std::string_view digits = value.substr(slash + 1);
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (ec != std::errc() || end != digits.data() + digits.size()) prefix = -1;
  }
  if (slash == std::string_view::npos || prefix < 1 || prefix > 32 || !ParseIpv4(value.substr(0, slash), &plan->address)) {
    return "banger.ip: " + Quote(value) + " is not IPV4ADDRESS/PREFIX (prefix 1-32)";
  }
  plan->has_address = true;
  plan->prefix = prefix;
  return "";
}

std::string ParseNameservers(std::string_view value, NetworkPlan* plan) {
  size_t start = 0;
  for (;;) {
    const size_t comma = value.find(',', start);
    const std::string server(value.substr(start, comma == std::string_view::npos ? comma : comma - start));
    in6_addr scratch{};
    if (::inet_pton(AF_INET, server.c_str(), &scratch) != 1 && ::inet_pton(AF_INET6, server.c_str(), &scratch) != 1) {
      return "banger.dns: " + Quote(server) + " is not an IP address (expected IP[,IP...])";
    }
    plan->nameservers.push_back(server);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (plan->nameservers.size() > kMaxNameservers) {
    return "banger.dns: " + std::to_string(plan->nameservers.size()) + " servers; resolvers use at most " +
           std::to_string(kMaxNameservers);
  }
  return "";
}

bool InSubnet(in_addr address, int prefix, in_addr other) {
  const uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  return (ntohl(address.s_addr) & mask) == (ntohl(other.s_addr) & mask);
}

}  // namespace

std::vector<std::string> SplitCmdline(std::string_view cmdline) {
  std::vector<std::string> words;
  std::string word;
  bool quoted = false;
  bool in_word = false;
  for (char c : cmdline) {
    if (c == '"') {
      quoted = !quoted;
      in_word = true;
    } else if (!quoted && (c == ' ' || c == '\t' || c == '\n' || c == '\0')) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

std::string PlanFromCmdline(const std::vector<std::string>& words, NetworkPlan* plan) {
  static const char* const kKnown[] = {"banger.ip", "banger.gw", "banger.dns", "banger.hostname", "banger.iface"};
  std::map<std::string, std::string> values;  // the last occurrence wins, as for the kernel
  for (const std::string& word : words) {
    if (!word.starts_with("banger.")) continue;
    const size_t equals = word.find('=');
    const std::string key = word.substr(0, equals);
    bool known = false;
    for (const char* name : kKnown) known = known || key == name;
    if (!known) {
      plan->notes.push_back("ignoring unknown parameter " + key);
      continue;
    }
    if (equals == std::string::npos || equals + 1 == word.size()) return key + ": needs a value (" + key + "=...)";
    values[key] = word.substr(equals + 1);
  }

  std::string error;
  if (auto it = values.find("banger.ip"); it != values.end()) error = ParseAddress(it->second, plan);
  if (auto it = values.find("banger.gw"); error.empty() && it != values.end()) {
    if (!ParseIpv4(it->second, &plan->gateway)) {
      error = "banger.gw: " + Quote(it->second) + " is not an IPv4 address";
    } else if (plan->has_address && !InSubnet(plan->address, plan->prefix, plan->gateway)) {
      error = "banger.gw: " + it->second + " is outside " + values["banger.ip"];
    }
    plan->has_gateway = error.empty();
  }
  if (auto it = values.find("banger.dns"); error.empty() && it != values.end()) error = ParseNameservers(it->second, plan);
  if (auto it = values.find("banger.hostname"); error.empty() && it != values.end()) {
    if (!ValidHostname(it->second)) {
      error = "banger.hostname: " + Quote(it->second) + " is not a valid host name (letters, digits, '-', '.'; at most 64)";
    }
    plan->hostname = it->second;
  }
  if (auto it = values.find("banger.iface"); error.empty() && it != values.end()) {
    if (!ValidIfaceName(it->second)) error = "banger.iface: " + Quote(it->second) + " is not an interface name";
    plan->iface = it->second;
  }
  return error;
}

std::string FormatIpv4(in_addr address) {
  char text[INET_ADDRSTRLEN] = "";
  ::inet_ntop(AF_INET, &address, text, sizeof text);
  return text;
}

}  // namespace banger::agent
