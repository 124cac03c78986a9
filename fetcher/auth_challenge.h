// WWW-Authenticate parsed per RFC 7235: several challenges in one header, parameters
// with quoted strings (which may hold commas and escapes), case-insensitive names.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace banger::fetcher {

struct AuthChallenge {
  std::string scheme;                         // lowercased: "bearer", "basic"
  std::map<std::string, std::string> params;  // names lowercased: "realm", "service", "scope"

  std::string Param(const std::string& name) const;
};

// Unparseable trailing text ends the list; what parsed before it is kept.
std::vector<AuthChallenge> ParseAuthChallenges(std::string_view header);

}  // namespace banger::fetcher
