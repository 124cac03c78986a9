// SIGINT and SIGTERM as a readable fd: every wait on a child also polls it, so a signal
// ends a pull through the ordinary error path, where RAII kills the children and removes
// staging and scratch, and banger exits 128 + the signal.
#pragma once

namespace banger::security {

// Installs the handlers (once); until then StopFd() is -1 and nothing changes.
void InstallStopSignals();
// Readable once a stop signal arrived; -1 when not installed.
int StopFd();
// The signal that asked to stop, or 0.
int StopSignal();
// "interrupted by SIGINT", for error messages.
const char* StopReason();

}  // namespace banger::security
