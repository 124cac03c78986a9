// The one error idiom of the code base: functions that can fail return Result<T>,
// which holds either a value or an Error whose message a user can act on.
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace banger {

enum class ErrorCode {
  kIo,              // a system call failed
  kPeerClosed,      // the other end of a channel hung up
  kTruncated,       // a frame or file ended early
  kOversized,       // a frame or document is larger than its bound
  kUnknownType,     // a message type nobody declared
  kUnexpected,      // a declared message arrived where it is not allowed
  kTooManyFds,      // more descriptors than a message may carry
  kMalformed,       // bytes that do not parse
  kTimeout,         // a deadline passed
  kSandbox,         // a sandbox could not be set up or was violated
  kChildFailed,     // a helper process failed or died
  kInvalidArgument, // the caller (often the user) asked for something invalid
  kNotFound,
  kStopped,         // SIGINT or SIGTERM asked banger to stop
  kNoSpace,         // a write found its filesystem full (ENOSPC, EDQUOT)
};

const char* ErrorCodeName(ErrorCode code);

struct Error {
  ErrorCode code;
  std::string message;

  // "what: strerror(err)", the usual shape of a failed system call.
  static Error FromErrno(std::string what, int err = errno);
  // Prefixes context, e.g. Wrap("reading layer 2") -> "reading layer 2: <message>".
  Error Wrap(const std::string& context) const&;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::move(value)) {}          // NOLINT(google-explicit-constructor)
  Result(Error error) : state_(std::move(error)) {}      // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

  const Error& error() const& { return std::get<Error>(state_); }
  Error&& error() && { return std::get<Error>(std::move(state_)); }

 private:
  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), failed_(true) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const& { return error_; }
  Error&& error() && { return std::move(error_); }

 private:
  Error error_{ErrorCode::kIo, {}};
  bool failed_ = false;
};

}  // namespace banger

#define BANGER_CONCAT_INNER(a, b) a##b
#define BANGER_CONCAT(a, b) BANGER_CONCAT_INNER(a, b)

// Returns the error of `expr` from the enclosing function.
#define BANGER_TRY(expr)                                      \
  do {                                                        \
    auto banger_try_result_ = (expr);                         \
    if (!banger_try_result_) return std::move(banger_try_result_).error(); \
  } while (0)

// `lhs = value of expr`, or returns its error from the enclosing function.
#define BANGER_ASSIGN_OR_RETURN(lhs, expr) \
  BANGER_ASSIGN_OR_RETURN_IMPL(BANGER_CONCAT(banger_result_, __LINE__), lhs, expr)
#define BANGER_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp) return std::move(tmp).error();           \
  lhs = std::move(tmp).value()
