#include "security/helper_session.h"

#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <nlohmann/json.hpp>

#include "ipc/session_protocol.h"
#include "security/lockdown.h"
#include "security/spawn.h"

namespace banger::security {

Result<HelperSession> HelperSession::Begin(std::string name, std::optional<ProcessKind> expected) {
  // One malloc arena for every thread, set before any library can start one. glibc gives
  // a new thread a heap of its own and, the first time such a heap shrinks, opens
  // /proc/sys/vm/overcommit_memory: after lockdown that open is a sandbox violation, so a
  // helper whose worker thread freed the top of its heap was killed (the imager's writer
  // thread was). An arena made before this would stay in use, hence the first statement.
  ::mallopt(M_ARENA_MAX, 1);
  HelperSession session;
  session.name_ = std::move(name);
  session.channel_ = ipc::Channel(UniqueFd(kChannelFd), "broker");
  BANGER_ASSIGN_OR_RETURN(ipc::Message config,
                          session.channel_.ReceiveExpecting({ipc::MessageType::kSandboxConfig}, 30000));
  BANGER_ASSIGN_OR_RETURN(nlohmann::json json, config.Json());
  BANGER_ASSIGN_OR_RETURN(session.spec_, SpecFromJson(json));
  if (expected && session.spec_.kind != *expected) {
    return Error{ErrorCode::kSandbox, session.name_ + " was given the sandbox of the " +
                                          ProcessKindName(session.spec_.kind) + " process"};
  }
  return session;
}

Result<void> HelperSession::LockDown() {
  BANGER_TRY(security::LockDown(spec_));
  return channel_.Send(ipc::Message::WithJson(ipc::MessageType::kLocked, {{"pid", ::getpid()}}));
}

int HelperSession::Fail(const Error& error) {
  std::fprintf(stderr, "%s: %s\n", name_.c_str(), error.message.c_str());
  (void)channel_.Send(ipc::MakeErrorMessage(error));
  return 1;
}

int ReportStartupFailure(std::string_view helper, const Error& error) {
  std::fprintf(stderr, "%.*s: %s\n", static_cast<int>(helper.size()), helper.data(), error.message.c_str());
  return 70;
}

namespace {

// Served by the session, before the job's handler sees a byte of untrusted input: a job
// compromised later finds the hard limit already lowered, and may only lower it further.
Result<void> LimitOwnFileSize(HelperSession& session, const ipc::Message& message) {
  BANGER_ASSIGN_OR_RETURN(ipc::FileSizeLimit limit, ipc::Decode<ipc::FileSizeLimit>(message.body));
  rlimit bound{};
  if (::getrlimit(RLIMIT_FSIZE, &bound) != 0) return Error::FromErrno("getrlimit(RLIMIT_FSIZE)");
  // Only ever down: a bound above the sandbox's own keeps the sandbox's.
  bound.rlim_max = std::min<rlim_t>(bound.rlim_max, limit.bytes);
  bound.rlim_cur = bound.rlim_max;
  if (::setrlimit(RLIMIT_FSIZE, &bound) != 0) return Error::FromErrno("setrlimit(RLIMIT_FSIZE)");
  return session.channel().Send(ipc::Message::Make(ipc::MessageType::kFileSizeLimited));
}

}  // namespace

Result<void> ServeUntilShutdown(HelperSession& session, const MessageHandler& handle) {
  for (;;) {
    BANGER_ASSIGN_OR_RETURN(ipc::Message message, session.channel().Receive());
    switch (message.type) {
      case ipc::MessageType::kShutdown:
        return {};
      case ipc::MessageType::kLimitFileSize:
        BANGER_TRY(LimitOwnFileSize(session, message));
        continue;
      case ipc::MessageType::kPing:
        BANGER_TRY(session.channel().Send(
            ipc::Message::WithJson(ipc::MessageType::kPong, {{"process", session.name()}})));
        continue;
      default: {
        BANGER_ASSIGN_OR_RETURN(bool handled, handle(message));
        if (!handled) {
          return Error{ErrorCode::kUnexpected, std::string("unexpected message '") +
                                                   ipc::MessageTypeName(message.type) + "' from the broker"};
        }
      }
    }
  }
}

int RunHelper(const std::string& name, ProcessKind kind, const std::function<Result<void>()>& initialise,
              const HandlerFactory& make_handler) {
  auto session = HelperSession::Begin(name, kind);
  if (!session) return ReportStartupFailure(name, session.error());
  if (auto ready = initialise(); !ready) return session->Fail(ready.error());
  if (auto locked = session->LockDown(); !locked) return session->Fail(locked.error());
  // The helper's one catch: a library that throws ends the job with a named error the
  // broker reads, not with an abort it can only describe as a signal.
  Result<void> served;
  try {
    MessageHandler handle = make_handler(session->channel());
    served = ServeUntilShutdown(*session, handle);
  } catch (const std::exception& e) {
    served = Error{ErrorCode::kIo, std::string("internal error: ") + e.what()};
  } catch (...) {
    served = Error{ErrorCode::kIo, "internal error: an unknown exception"};
  }
  return served ? 0 : session->Fail(served.error());
}

}  // namespace banger::security
