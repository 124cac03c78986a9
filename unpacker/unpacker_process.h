// The unpacker process: where hostile layer bytes are parsed, so it sees no filesystem
// and no network. Issue 4 gives it libarchive replay; today it locks down and answers
// the lifecycle messages.
#pragma once

namespace banger::unpacker {

int RunUnpackerProcess();

}  // namespace banger::unpacker
