#pragma once

// The agent's one connection to the controller: dials out, says hello, runs what it is sent
// on the job engine, and reports job events from the outbox. Reconnects forever with capped
// exponential backoff and full jitter. The only agent file that includes gRPC headers.

#include <grpcpp/support/status.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "agent/jobs/job_engine.h"
#include "agent/outbox.h"
#include "common/tls.h"

namespace tachyon::agent {

class Connection;

class ControllerLink {
 public:
  struct Options {
    std::string controller;  // host:port
    tls::Files tls;
    std::vector<std::string> groups;
    absl::Duration backoff_initial = absl::Milliseconds(200);
    absl::Duration backoff_max = absl::Seconds(30);
    // Renew our certificate over the stream once two thirds of its lifetime have passed (when
    // the controller says it renews). The new files replace tls.cert/tls.key (and tls.ca) and
    // are used from the next connect on; the stream and its jobs carry on.
    bool renew_certificate = true;
  };

  ControllerLink(Options options, jobs::JobEngine* engine, Outbox* outbox);
  ~ControllerLink();

  void Start();
  void Stop();
  // The engine reported an event: it is already in the outbox; send it if connected.
  void Flush();
  // Live output: sent only while connected, never stored or acked (best effort).
  void SendOutput(const jobs::JobEvent& event);

 private:
  void Run();
  // Waits for the stream to end, renewing the certificate meanwhile when it is due.
  grpc::Status Supervise(Connection* conn, bool* welcomed);

  Options options_;
  jobs::JobEngine* engine_;
  Outbox* outbox_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::shared_ptr<Connection> current_;  // guarded by mu_
};

}  // namespace tachyon::agent
