// A fetcher request that hands over a fresh memfd for the fetcher to write what it
// fetched into (a manifest and its indexes, a signature document), and the answer. The
// broker keeps its own copy of the memfd and reads it once, after the answer says how
// much is there; the fetcher keeps its copy too, so nothing read from it is trusted
// beyond what the broker checks of it (docs/architecture.md, "The data path of one pull").
#pragma once

#include <initializer_list>
#include <string>

#include "base/fd.h"
#include "base/result.h"
#include "ipc/channel.h"
#include "security/spawn.h"

namespace banger::broker {

struct SinkAnswer {
  ipc::Message answer;  // of `expected`'s type, its body not yet decoded
  UniqueFd sink;        // the memfd the fetcher wrote into
};

// Sends `type` with `body` and a new memfd named `sink_name`, and waits `timeout_ms` for
// an answer of type `expected`.
Result<SinkAnswer> AskWithSink(security::SandboxedChild& fetcher, ipc::MessageType type, std::string body,
                               ipc::MessageType expected, int timeout_ms, const char* sink_name);

}  // namespace banger::broker
