// The agent's health protocol: a minimal HTTP/1.0 server side (docs/guest.md).
// Pure functions over bytes, so the serving loop stays about descriptors.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace banger::agent {

// A request head (request line and headers, up to the empty line) bigger than this is
// dropped without an answer.
inline constexpr size_t kMaxRequestBytes = 8192;

enum class RequestState {
  kIncomplete,  // no empty line yet: read more
  kComplete,    // the head is all there: answer it
  kTooLarge,    // kMaxRequestBytes read without an empty line: drop the connection
};

// Where the request head in `buffer` stands.
RequestState ScanRequest(std::string_view buffer);

// The whole response (status line, headers, body) for a complete request head.
// `health_body` produces the JSON of GET /healthz.
std::string Respond(std::string_view request, const std::function<std::string()>& health_body);

}  // namespace banger::agent
