#pragma once

// Daemons block SIGTERM/SIGINT/SIGHUP in every thread and wait for them in main().

#include <csignal>

namespace tachyon {

// Call first in main(), before any thread starts; the mask is inherited by every thread.
void BlockShutdownSignals();
// Waits for SIGTERM or SIGINT (SIGHUP is ignored for now) and returns the signal number.
int WaitForShutdownSignal();

}  // namespace tachyon
