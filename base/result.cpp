#include "base/result.h"

#include <cerrno>
#include <cstring>

namespace banger {

const char* ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kIo: return "io";
    case ErrorCode::kPeerClosed: return "peer closed";
    case ErrorCode::kTruncated: return "truncated";
    case ErrorCode::kOversized: return "oversized";
    case ErrorCode::kUnknownType: return "unknown type";
    case ErrorCode::kUnexpected: return "unexpected";
    case ErrorCode::kTooManyFds: return "too many fds";
    case ErrorCode::kMalformed: return "malformed";
    case ErrorCode::kTimeout: return "timeout";
    case ErrorCode::kSandbox: return "sandbox";
    case ErrorCode::kChildFailed: return "child failed";
    case ErrorCode::kInvalidArgument: return "invalid argument";
    case ErrorCode::kNotFound: return "not found";
    case ErrorCode::kStopped: return "stopped";
    case ErrorCode::kNoSpace: return "no space";
  }
  return "?";
}

Error Error::FromErrno(std::string what, int err) {
  const ErrorCode code = err == ENOSPC || err == EDQUOT ? ErrorCode::kNoSpace : ErrorCode::kIo;
  return Error{code, std::move(what) + ": " + std::strerror(err)};
}

Error Error::Wrap(const std::string& context) const& {
  return Error{code, context + ": " + message};
}

}  // namespace banger
