// tachyon-agent: flags, signals and wiring only. Also the entry point of the job shim
// (`tachyon-agent __shim JOB_DIR`), so one binary is all a host needs.

#include <atomic>
#include <cstring>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/controller_link.h"
#include "agent/enroll.h"
#include "agent/jobs/job_engine.h"
#include "agent/outbox.h"
#include "agent/simulator.h"
#include "common/daemon.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/signals.h"

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "__shim") == 0) {
    return tachyon::jobs::ShimMain(argc - 1, argv + 1);
  }
  // Debian's Abseil is built with mutex deadlock detection on: every absl::Mutex operation, gRPC's
  // included, then updates one global lock graph under one spinlock (measured at ~4% of the
  // controller's CPU when 1,000 agents connect, plus the contention). Our lock order is fixed
  // by design (event_bus.h, store.h); this is a debugging aid, not a safety net.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (argc >= 2 && std::strcmp(argv[1], "enroll") == 0) {
    return tachyon::agent::EnrollMain(argc - 1, argv + 1);
  }
  // The fleet simulator has flags of its own (`tachyon-agent --simulate N --help`).
  if (tachyon::agent::WantsSimulator(argc, argv)) return tachyon::agent::SimulatorMain(argc, argv);
  tachyon::BlockShutdownSignals();
  CLI::App app{"tachyon-agent: runs jobs for the tachyon controller; dials out over mTLS gRPC"};
  app.footer("Fleet simulator: tachyon-agent --simulate N --simulate-ca-dir PKI_DIR ... (see "
             "`tachyon-agent --simulate 1 --help`)");
  tachyon::DaemonFlags daemon;
  tachyon::agent::ControllerLink::Options link;
  link.controller = "127.0.0.1:7443";
  std::string state_dir;
  double kill_grace = 5;
  size_t max_output = 16u << 20, max_live_output = 1u << 20;
  std::string retention = "168h";
  bool no_cgroup = false;
  tachyon::AddDaemonFlags(app, &daemon);
  app.add_option("--controller", link.controller, "controller HOST:PORT");
  app.add_option("--state-dir", state_dir, "job spool and agent state")->required();
  // Not needed once `tachyon-agent enroll` has put them in the state dir.
  app.add_option("--ca", link.tls.ca, "CA certificate (PEM; default STATE_DIR/ca.crt)");
  app.add_option("--cert", link.tls.cert, "agent certificate (PEM; default STATE_DIR/agent.crt)");
  app.add_option("--key", link.tls.key, "agent private key (PEM; default STATE_DIR/agent.key)");
  app.add_option("--group", link.groups, "inventory group this host belongs to (repeatable)");
  app.add_option("--kill-grace", kill_grace,
                 "seconds between SIGTERM and SIGKILL when a job times out or is killed");
  app.add_option(
      "--max-output", max_output,
      "bytes of each job's stdout and stderr kept in the spool (then a truncation marker)");
  app.add_option("--max-live-output", max_live_output,
                 "bytes of each stream per job streamed live to `tachyon job logs -f` (0 = none)");
  app.add_option("--retention", retention,
                 "how long finished, reported jobs stay in the spool (e.g. 168h, 30m)");
  app.add_flag("--no-cgroup", no_cgroup,
               "do not put jobs in their own cgroup v2 (process group + subreaper only)");
  if (int rc = tachyon::ParseDaemonCommandLine(app, daemon, argc, argv, "agent"); rc >= 0) {
    return rc;
  }

  if (!tachyon::agent::ResolveEnrolledFiles(state_dir, &link.controller, &link.tls,
                                            app.count("--controller") > 0)) {
    return 5;
  }
  std::string spool = state_dir + "/jobs";
  if (auto st = tachyon::MakeDirs(spool, 0700); !st.ok()) {
    TLOG(Error) << "state dir: " << st;
    return 1;
  }

  auto outbox_or = tachyon::agent::Outbox::Open(state_dir + "/outbox");
  if (!outbox_or.ok()) {
    TLOG(Error) << "outbox: " << outbox_or.status();
    return 1;
  }
  tachyon::agent::Outbox& outbox = **outbox_or;
  std::atomic<tachyon::agent::ControllerLink*> link_ptr{nullptr};
  tachyon::jobs::JobEngine::Options opts;
  opts.spool_dir = spool;
  opts.shim_command = tachyon::jobs::DefaultShimCommand(tachyon::SelfExePath("tachyon-agent"));
  opts.kill_grace = absl::Seconds(kill_grace);
  opts.max_stored_output = max_output;
  opts.max_live_output = max_live_output;
  opts.use_cgroup = !no_cgroup;
  if (!absl::ParseDuration(retention, &opts.retention) || opts.retention <= absl::ZeroDuration()) {
    std::cerr << "agent: --retention: '" << retention << "' is not a positive duration like 168h\n";
    return 5;
  }
  auto engine = tachyon::jobs::JobEngine::Create(
      opts, [&outbox, &link_ptr](const tachyon::jobs::JobEvent& e) {
        if (e.kind == tachyon::jobs::JobEvent::Kind::kOutput) {
          if (auto* l = link_ptr.load()) l->SendOutput(e);
          return;
        }
        TLOG(Info) << "job " << e.jid << " " << tachyon::jobs::JobStateName(e.state);
        // Durable before returning: the engine then marks the job reported.
        outbox.Add(e, absl::ToUnixMillis(absl::Now())).IgnoreError();  // logged by the outbox
        if (auto* l = link_ptr.load()) l->Flush();
      });
  if (!engine.ok()) {
    TLOG(Error) << "job engine: " << engine.status();
    return 1;
  }
  tachyon::agent::ControllerLink controller_link(link, engine->get(), &outbox);
  link_ptr = &controller_link;
  controller_link.Start();
  TLOG(Info) << "agent started; controller " << link.controller << ", state in " << state_dir;

  int sig = tachyon::WaitForShutdownSignal();
  TLOG(Info) << "signal " << sig << ": shutting down (running jobs keep running under their shims)";
  link_ptr = nullptr;
  controller_link.Stop();
  engine->reset();
  TLOG(Info) << "stopped";
  return 0;
}
