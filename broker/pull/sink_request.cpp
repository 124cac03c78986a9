#include "broker/pull/sink_request.h"

#include <sys/mman.h>

#include <utility>

namespace banger::broker {

Result<SinkAnswer> AskWithSink(security::SandboxedChild& fetcher, ipc::MessageType type, std::string body,
                               ipc::MessageType expected, int timeout_ms, const char* sink_name) {
  UniqueFd sink(::memfd_create(sink_name, MFD_CLOEXEC));
  if (!sink) return Error::FromErrno("memfd_create");
  ipc::Message request = ipc::Message::Make(type, std::move(body));
  BANGER_ASSIGN_OR_RETURN(UniqueFd sink_copy, DupCloexec(sink.get()));
  request.fds.push_back(std::move(sink_copy));
  BANGER_TRY(fetcher.Send(request));
  request.fds.clear();
  BANGER_ASSIGN_OR_RETURN(ipc::Message answer, fetcher.ReceiveExpecting({expected}, timeout_ms));
  return SinkAnswer{std::move(answer), std::move(sink)};
}

}  // namespace banger::broker
