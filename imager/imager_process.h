// The imager process: writes the ext4 through libext2fs into the fd it is given, with
// no capabilities, no filesystem view and no network. Issue 5 gives it the writer;
// today it initialises libext2fs, locks down and answers the lifecycle messages.
#pragma once

namespace banger::imager {

int RunImagerProcess();

}  // namespace banger::imager
