#include "imager/imager_process.h"

#include <ext2fs/ext2fs.h>

#include "security/helper_session.h"

namespace banger::imager {

int RunImagerProcess() {
  auto initialise = []() -> Result<void> {
    initialize_ext2_error_table();  // com_err tables, so libext2fs errors read as text
    return {};
  };
  auto refuse_work = [](ipc::Channel&) -> security::MessageHandler {
    return [](ipc::Message&) -> Result<bool> { return false; };
  };
  return security::RunHelper("banger-imager", security::ProcessKind::kImager, initialise, refuse_work);
}

}  // namespace banger::imager
