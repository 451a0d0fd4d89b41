#pragma once

// The fleet simulator: `tachyon-agent --simulate N` runs N agent identities in one process, for
// measuring the controller at scale (bench/fleet.sh). Each identity has its own certificate
// (minted in memory from the CA in --simulate-ca-dir, as `tachyon pki issue agent` makes it),
// its own channel and TLS connection, its own stream and hello, and its own in-memory outbox.
// Streams are driven by the gRPC callback API and reconnects by one shared timer thread, so N
// identities cost no threads of their own. Jobs are either acknowledged and reported at once by
// a no-op engine (`--simulate-jobs noop`, the default: control plane only) or run by the real
// job engine, one spool per identity under --state-dir (`--simulate-jobs real`; one engine
// thread per identity, so for small N). The simulator is not durable: its outboxes live in
// memory, and events not yet acked when it exits are lost.

namespace tachyon::agent {

// True when argv asks for the simulator (`--simulate N` or `--simulate=N`).
bool WantsSimulator(int argc, char** argv);

// main() of `tachyon-agent --simulate N ...`: flags, identities, signals. Returns the exit code.
int SimulatorMain(int argc, char** argv);

}  // namespace tachyon::agent
