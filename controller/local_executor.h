#pragma once

// `localhost` is the controller's own host (Ansible's implicit localhost is the control node).
// LocalExecutor runs its jobs on the same job engine the agents use, in-process, and plays the
// part of an agent stream for the Dispatcher: it is the `localhost` AgentLink, and it reports
// the engine's events straight to the Dispatcher.

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "agent/jobs/job_engine.h"
#include "controller/agent_link.h"
#include "controller/dispatcher.h"

namespace tachyon::controller {

class LocalExecutor final : public AgentLink, public std::enable_shared_from_this<LocalExecutor> {
 public:
  struct Options {
    std::string spool_dir;                  // STATE/localhost/jobs
    std::vector<std::string> shim_command;  // {controller binary, "__shim"}
    absl::Duration kill_grace = absl::Seconds(5);
  };

  // Starts the engine (re-adopting jobs left by a previous controller) and connects as
  // `localhost`. The dispatcher must outlive it.
  static absl::StatusOr<std::shared_ptr<LocalExecutor>> Start(Dispatcher* dispatcher,
                                                              Options options);
  ~LocalExecutor() override;
  void Stop();

  bool SendDispatch(const DispatchRequest& request) override;
  bool SendKill(const std::string& jid) override;
  bool SendCleanup(const std::string& jid) override;
  bool SendEventAck(uint64_t) override { return true; }
  void Close(const std::string&) override {}

 private:
  explicit LocalExecutor(Dispatcher* dispatcher) : dispatcher_(dispatcher) {}
  void OnEngineEvent(const jobs::JobEvent& e);

  Dispatcher* dispatcher_;
  std::unique_ptr<jobs::JobEngine> engine_;
  std::atomic<uint64_t> seq_{0};
  std::atomic<bool> ready_{false};
};

}  // namespace tachyon::controller
