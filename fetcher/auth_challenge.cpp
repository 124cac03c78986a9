#include "fetcher/auth_challenge.h"

#include "base/text.h"

namespace banger::fetcher {
namespace {

bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {}
  bool done() const { return at_ >= text_.size(); }
  char peek() const { return done() ? '\0' : text_[at_]; }
  void SkipSpace() {
    while (!done() && (text_[at_] == ' ' || text_[at_] == '\t')) ++at_;
  }
  void SkipSpaceAndCommas() {
    while (!done() && (text_[at_] == ' ' || text_[at_] == '\t' || text_[at_] == ',')) ++at_;
  }
  std::string_view Token() {
    size_t start = at_;
    while (!done() && IsTokenChar(text_[at_])) ++at_;
    return text_.substr(start, at_ - start);
  }
  // token68: a scheme's single opaque credential-like value (e.g. "Negotiate abc==").
  std::string_view Token68() {
    size_t start = at_;
    while (!done() && (IsTokenChar(text_[at_]) || text_[at_] == '/')) ++at_;
    while (!done() && text_[at_] == '=') ++at_;
    return text_.substr(start, at_ - start);
  }
  bool QuotedString(std::string* out) {
    if (peek() != '"') return false;
    ++at_;
    while (!done()) {
      char c = text_[at_++];
      if (c == '"') return true;
      if (c == '\\' && !done()) c = text_[at_++];
      out->push_back(c);
    }
    return false;  // unterminated
  }
  // Is the text at the cursor "token BWS =" (a parameter) rather than a new scheme?
  bool AtParameter() const {
    size_t i = at_;
    while (i < text_.size() && IsTokenChar(text_[i])) ++i;
    if (i == at_) return false;
    while (i < text_.size() && (text_[i] == ' ' || text_[i] == '\t')) ++i;
    return i < text_.size() && text_[i] == '=' && (i + 1 >= text_.size() || text_[i + 1] != '=');
  }
  void Expect(char c) {
    if (peek() == c) ++at_;
  }

 private:
  std::string_view text_;
  size_t at_ = 0;
};

}  // namespace

std::string AuthChallenge::Param(const std::string& name) const {
  auto it = params.find(name);
  return it == params.end() ? std::string() : it->second;
}

std::vector<AuthChallenge> ParseAuthChallenges(std::string_view header) {
  std::vector<AuthChallenge> challenges;
  Cursor cur(header);
  cur.SkipSpaceAndCommas();
  while (!cur.done()) {
    std::string_view scheme = cur.Token();
    if (scheme.empty()) break;
    AuthChallenge challenge;
    challenge.scheme = AsciiLower(scheme);
    cur.SkipSpace();
    if (!cur.done() && cur.peek() != ',' && !cur.AtParameter()) {
      cur.Token68();  // an opaque token68: nothing registries use, skipped
      cur.SkipSpace();
    }
    for (;;) {
      cur.SkipSpaceAndCommas();
      if (!cur.AtParameter()) break;
      std::string name = AsciiLower(cur.Token());
      cur.SkipSpace();
      cur.Expect('=');
      cur.SkipSpace();
      std::string value;
      if (cur.peek() == '"') {
        if (!cur.QuotedString(&value)) {
          challenges.push_back(std::move(challenge));
          return challenges;
        }
      } else {
        value = std::string(cur.Token());
      }
      challenge.params.emplace(std::move(name), std::move(value));
    }
    challenges.push_back(std::move(challenge));
    cur.SkipSpaceAndCommas();  // each round consumes a scheme token, so this ends
  }
  return challenges;
}

}  // namespace banger::fetcher
