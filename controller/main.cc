// tachyon-controller: flags, signals and wiring only.

#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/jobs/job_engine.h"
#include "common/callback_poller.h"
#include "common/daemon.h"
#include "common/fs.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/pki.h"
#include "common/signals.h"
#include "common/tls.h"
#include "controller/agent_service.h"
#include "controller/control_service.h"
#include "controller/dispatcher.h"
#include "controller/enroll_service.h"
#include "controller/event_bus.h"
#include "controller/local_executor.h"
#include "controller/rollouts.h"
#include "controller/store/store.h"

int main(int argc, char** argv) {
  // The embedded localhost executor runs jobs under shims, like an agent: same entry point.
  if (argc >= 2 && std::strcmp(argv[1], "__shim") == 0) {
    return tachyon::jobs::ShimMain(argc - 1, argv + 1);
  }
  // Debian's Abseil is built with mutex deadlock detection on: every absl::Mutex operation, gRPC's
  // included, then updates one global lock graph under one spinlock (measured at ~4% of the
  // controller's CPU when 1,000 agents connect, plus the contention). Our lock order is fixed
  // by design (event_bus.h, store.h); this is a debugging aid, not a safety net.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  tachyon::BlockShutdownSignals();
  // One socket per connected agent: take the whole hard limit of open files.
  if (struct rlimit rl; getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  CLI::App app{"tachyon-controller: runs rollouts and dispatches jobs to agents over mTLS gRPC"};
  tachyon::DaemonFlags daemon;
  std::string listen = "127.0.0.1:7443";
  std::string state_dir, port_file;
  tachyon::tls::Files tls;
  int64_t default_timeout = 0;
  size_t list_agents_page_bytes = 1u << 20;
  double delivery_timeout = 300;
  std::string ca_key_path, agent_cert_lifetime = "720h";
  tachyon::AddDaemonFlags(app, &daemon);
  app.add_option("--listen", listen, "HOST:PORT to serve on (port 0 picks a free port)");
  app.add_option("--state-dir", state_dir, "directory for the SQLite state")->required();
  app.add_option("--ca", tls.ca, "CA certificate (PEM)")->required();
  app.add_option("--cert", tls.cert, "controller certificate (PEM)")->required();
  app.add_option("--key", tls.key, "controller private key (PEM)")->required();
  app.add_option("--port-file", port_file, "write the bound port here once serving");
  app.add_option("--default-timeout", default_timeout,
                 "timeout in seconds for jobs started without one (0 = none)");
  app.add_option("--delivery-timeout", delivery_timeout,
                 "seconds a job may wait for its agent to accept it before it ends as unreachable");
  app.add_option("--ca-key", ca_key_path,
                 "CA private key, to sign enrolled and renewed agent certificates (default: "
                 "ca.key next to --ca, when it exists)");
  app.add_option("--agent-cert-lifetime", agent_cert_lifetime,
                 "lifetime of the agent certificates this controller signs (e.g. 720h); agents "
                 "renew at two thirds of it");
  // Tests make pages small to exercise paging with a handful of agents.
  app.add_option("--list-agents-page-bytes", list_agents_page_bytes,
                 "approximate size of one page of `tachyon agents` (their facts)")
      ->group("");
  if (int rc = tachyon::ParseDaemonCommandLine(app, daemon, argc, argv, "controller"); rc >= 0) {
    return rc;
  }

  if (auto st = tachyon::MakeDirs(state_dir, 0700); !st.ok()) {
    TLOG(Error) << "state dir: " << st;
    return 1;
  }
  auto store = tachyon::store::OpenSqliteStore(state_dir);
  if (!store.ok()) {
    TLOG(Error) << "opening the store in " << state_dir << ": " << store.status();
    return 1;
  }
  auto creds = tachyon::tls::ServerCredentials(tls);
  if (!creds.ok()) {
    TLOG(Error) << "TLS: " << creds.status();
    return 1;
  }

  tachyon::controller::CertAuthority::Options ca_options;
  absl::Duration lifetime;
  if (!absl::ParseDuration(agent_cert_lifetime, &lifetime) || lifetime < absl::Seconds(1) ||
      lifetime > absl::Hours(24 * 3650)) {
    std::cerr << "controller: --agent-cert-lifetime: '" << agent_cert_lifetime
              << "' is not a duration between 1s and 87600h\n";
    return 5;
  }
  ca_options.agent_cert_lifetime = lifetime;
  if (auto bundle = tachyon::ReadFile(tls.ca, 1 << 20); bundle.ok())
    ca_options.ca_bundle_pem = *bundle;
  bool explicit_ca_key = !ca_key_path.empty();
  if (!explicit_ca_key) {
    std::string sibling = tls.ca.substr(0, tls.ca.rfind('/') + 1) + "ca.key";
    if (tachyon::PathExists(sibling)) ca_key_path = sibling;
  }
  std::optional<std::string> ca_key;
  if (!ca_key_path.empty()) {
    auto read = tachyon::ReadFile(ca_key_path, 1 << 20);
    if (read.ok()) {
      ca_key = *read;
    } else if (explicit_ca_key) {
      TLOG(Error) << "--ca-key: " << read.status();
      return 1;
    } else {
      TLOG(Warning) << "CA key " << ca_key_path << ": " << read.status();
    }
  }
  if (ca_key) {
    // The signing CA is the bundle's certificate that matches the key (a bundle holds the old
    // and the new CA during a rotation).
    auto certs = tachyon::pki::SplitCertificates(ca_options.ca_bundle_pem);
    if (certs.ok()) {
      for (const auto& cert : *certs) {
        if (tachyon::pki::CheckKeyMatchesCert(cert, *ca_key).ok()) ca_options.ca_cert_pem = cert;
      }
    }
    if (ca_options.ca_cert_pem.empty()) {
      TLOG(Error) << "--ca-key " << ca_key_path << " matches no certificate in --ca " << tls.ca;
      return 1;
    }
    ca_options.ca_key_pem = *ca_key;
    // Tokens pin the CA that the controller's own certificate chains to.
    auto serving = tachyon::ReadFile(tls.cert, 1 << 20);
    if (certs.ok() && serving.ok()) {
      for (const auto& cert : *certs) {
        if (tachyon::pki::VerifyCertificate(cert, *serving).ok()) ca_options.server_ca_pem = cert;
      }
    }
  } else {
    TLOG(Warning) << "no CA key (--ca-key): agent enrollment and certificate renewal are off";
  }
  tachyon::controller::CertAuthority authority(store->get(), ca_options);

  tachyon::controller::EventBus bus(store->get());
  tachyon::controller::Dispatcher dispatcher(store->get(), &bus, {absl::Seconds(delivery_timeout)});
  if (auto st = dispatcher.Recover(); !st.ok()) {
    TLOG(Error) << "recovering state: " << st;
    return 1;
  }
  dispatcher.StartTimers();
  tachyon::controller::LocalExecutor::Options local;
  local.spool_dir = state_dir + "/localhost/jobs";
  local.shim_command =
      tachyon::jobs::DefaultShimCommand(tachyon::SelfExePath("tachyon-controller"));
  auto localhost = tachyon::controller::LocalExecutor::Start(&dispatcher, local);
  if (!localhost.ok()) {
    TLOG(Error) << "localhost executor: " << localhost.status();
    return 1;
  }
  tachyon::controller::AgentServiceImpl agent_service(&dispatcher, &authority);
  tachyon::controller::EnrollServiceImpl enroll_service(&authority);
  tachyon::controller::RolloutManager rollouts(store->get(), &bus, &dispatcher, {state_dir});
  tachyon::controller::ControlServiceImpl control_service(
      &dispatcher, &bus, store->get(), &rollouts,
      {default_timeout, &authority, list_agents_page_bytes});

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, *creds, &port);
  builder.RegisterService(&agent_service);
  builder.RegisterService(&control_service);
  builder.RegisterService(&enroll_service);
  builder.SetMaxReceiveMessageSize(static_cast<int>(tachyon::kMaxMessageBytes));
  builder.SetMaxSendMessageSize(static_cast<int>(tachyon::kMaxMessageBytes));
  // Agents ping every 20 s to find dead peers; allow it, even between calls.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    TLOG(Error) << "cannot listen on " << listen;
    return 1;
  }
  // Keeps the callback API's queue polled: without it an agent's event that arrives after a
  // quiet second is read up to 100 ms late (common/callback_poller.h).
  tachyon::CallbackPoller callback_poller;
  std::string host = listen.substr(0, listen.rfind(':'));
  // The port file is written before the "listening on" line, so a reader that saw the line can
  // read the file.
  if (!port_file.empty()) {
    if (auto st = tachyon::WriteFileAtomic(port_file, absl::StrCat(port, "\n"), 0644); !st.ok()) {
      TLOG(Error) << "port file: " << st;
    }
  }
  TLOG(Info) << "listening on " << host << ":" << port << " (mTLS), state in " << state_dir;
  // Rollouts a previous controller left running continue (their agents reconnect meanwhile).
  if (auto st = rollouts.ResumeAll(); !st.ok()) TLOG(Error) << "resuming rollouts: " << st;

  int sig = tachyon::WaitForShutdownSignal();
  TLOG(Info) << "signal " << sig << ": shutting down";
  rollouts.Stop();
  (*localhost)->Stop();
  dispatcher.CloseAll("controller shutting down");
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  callback_poller.Stop();
  server->Wait();
  dispatcher.StopTimers();
  TLOG(Info) << "stopped";
  return 0;
}
