#include "assets/agent/http.h"

namespace banger::agent {
namespace {

std::string Reply(int status, std::string_view reason, std::string_view body, std::string_view extra_headers = "") {
  std::string out = "HTTP/1.0 " + std::to_string(status) + " ";
  out += reason;
  out += "\r\nContent-Type: application/json\r\nContent-Length: ";
  out += std::to_string(body.size());
  out += "\r\nCache-Control: no-store\r\nConnection: close\r\n";
  out += extra_headers;
  out += "\r\n";
  out += body;
  return out;
}

std::string ErrorReply(int status, std::string_view reason, std::string_view extra_headers = "") {
  std::string body = "{\"error\":\"";
  body += reason;
  body += "\"}\n";
  return Reply(status, reason, body, extra_headers);
}

bool IsToken(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < 'A' || c > 'Z') return false;
  }
  return true;
}

}  // namespace

RequestState ScanRequest(std::string_view buffer) {
  // The head ends at an empty line; bare LF line ends are accepted too (nc, hand-typed).
  if (buffer.find("\r\n\r\n") != std::string_view::npos || buffer.find("\n\n") != std::string_view::npos) {
    return RequestState::kComplete;
  }
  // A head that starts with its empty line is complete too (and malformed: 400).
  if (buffer.starts_with("\r\n") || buffer.starts_with("\n")) return RequestState::kComplete;
  return buffer.size() >= kMaxRequestBytes ? RequestState::kTooLarge : RequestState::kIncomplete;
}

std::string Respond(std::string_view request, const std::function<std::string()>& health_body) {
  std::string_view line = request.substr(0, request.find('\n'));
  if (line.ends_with('\r')) line.remove_suffix(1);

  // METHOD SP TARGET SP HTTP/1.x, single spaces (RFC 9112 section 3).
  const size_t first = line.find(' ');
  const size_t second = first == std::string_view::npos ? first : line.find(' ', first + 1);
  if (second == std::string_view::npos) return ErrorReply(400, "Bad Request");
  const std::string_view method = line.substr(0, first);
  std::string_view target = line.substr(first + 1, second - first - 1);
  const std::string_view version = line.substr(second + 1);
  if (!IsToken(method) || target.empty() || target[0] != '/' || !version.starts_with("HTTP/1.") ||
      version.size() != 8) {
    return ErrorReply(400, "Bad Request");
  }
  target = target.substr(0, target.find('?'));

  if (target != "/healthz") return ErrorReply(404, "Not Found");
  if (method != "GET") return ErrorReply(405, "Method Not Allowed", "Allow: GET\r\n");
  return Reply(200, "OK", health_body());
}

}  // namespace banger::agent
