// The child side of a helper's start: adopt the channel at fd 3, take the SandboxSpec
// the broker sends, let the helper initialise its libraries, lock down, say "locked".
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ipc/channel.h"
#include "base/result.h"
#include "security/sandbox_spec.h"

namespace banger::security {

class HelperSession {
 public:
  // `expected`: the kind this executable is; a spec for another kind is refused.
  static Result<HelperSession> Begin(std::string name, std::optional<ProcessKind> expected);

  const SandboxSpec& spec() const { return spec_; }
  ipc::Channel& channel() { return channel_; }
  const std::string& name() const { return name_; }

  // Applies the spec (lockdown.h) and tells the broker "locked".
  Result<void> LockDown();

  // Tells the broker (kError) and stderr; returns the exit status to use.
  int Fail(const Error& error);

 private:
  std::string name_;
  SandboxSpec spec_;
  ipc::Channel channel_;
};

// For failures before a session exists: one line on stderr, exit status 70.
int ReportStartupFailure(std::string_view helper, const Error& error);

// Answers kPing and returns on kShutdown; any other message goes to `handle`, which
// returns false to refuse it (the loop then reports kError and ends with an error).
using MessageHandler = std::function<Result<bool>(ipc::Message&)>;
Result<void> ServeUntilShutdown(HelperSession& session, const MessageHandler& handle);

// What a helper may be asked, as a table (OpenSSH's monitor keeps one): each message type
// the service serves, with the member that serves it; any other type is refused.
template <class Service>
using DispatchTable = std::vector<std::pair<ipc::MessageType, Result<void> (Service::*)(ipc::Message&)>>;
template <class Service>
MessageHandler Dispatch(std::shared_ptr<Service> service, DispatchTable<Service> table) {
  return [service = std::move(service), table = std::move(table)](ipc::Message& message) -> Result<bool> {
    for (const auto& [type, serve] : table) {
      if (type != message.type) continue;
      BANGER_TRY(((*service).*serve)(message));
      return true;
    }
    return false;
  };
}

// The whole life of a helper process: Begin, `initialise` its libraries while the
// filesystem is still visible, LockDown, then serve with the handler `make_handler`
// builds (after lockdown, so nothing it sets up escapes the sandbox). The handler is
// destroyed before this returns. Returns the process exit status.
using HandlerFactory = std::function<MessageHandler(ipc::Channel&)>;
int RunHelper(const std::string& name, ProcessKind kind, const std::function<Result<void>()>& initialise,
              const HandlerFactory& make_handler);

// RunHelper for a service built on the channel after lockdown, serving `table`.
template <class Service>
int RunService(const std::string& name, ProcessKind kind, const std::function<Result<void>()>& initialise,
               DispatchTable<Service> table) {
  return RunHelper(name, kind, initialise, [table = std::move(table)](ipc::Channel& channel) {
    return Dispatch<Service>(std::make_shared<Service>(channel), table);
  });
}

}  // namespace banger::security
