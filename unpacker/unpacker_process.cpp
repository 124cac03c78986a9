#include "unpacker/unpacker_process.h"

#include "security/helper_session.h"

namespace banger::unpacker {

int RunUnpackerProcess() {
  auto initialise = []() -> Result<void> { return {}; };
  auto refuse_work = [](ipc::Channel&) -> security::MessageHandler {
    return [](ipc::Message&) -> Result<bool> { return false; };
  };
  return security::RunHelper("banger-unpacker", security::ProcessKind::kUnpacker, initialise, refuse_work);
}

}  // namespace banger::unpacker
