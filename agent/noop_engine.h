#pragma once

// A job engine that runs nothing: for the fleet simulator's control-plane-only runs
// (`tachyon-agent --simulate N --simulate-jobs noop`). Every job it accepts is reported started
// and then finished with an Ansible-shaped command result (rc 0, stdout "", changed true,
// start/end/delta), exactly as the real engine reports a job, through the same callback. It keeps
// the jobs it was given in memory only.
//
// Events are delivered from one worker thread shared by every NoopEngine of the process (the
// real engine also calls back from a thread of its own), so that thousands of simulated agents
// do not need thousands of threads.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "agent/jobs/job_engine.h"

namespace tachyon::agent {

// The shared worker: runs posted callbacks in order on one thread.
class NoopWorker {
 public:
  NoopWorker();
  ~NoopWorker();  // runs what is queued, then stops
  void Post(std::function<void()> fn);

 private:
  struct State;
  std::shared_ptr<State> state_;
};

class NoopEngine final : public jobs::JobEngine {
 public:
  NoopEngine(NoopWorker* worker, EventCallback on_event);

  absl::Status Submit(const jobs::JobSpec& spec) override;
  absl::Status Kill(const std::string& jid) override;
  absl::Status Cleanup(const std::string& jid) override;
  absl::StatusOr<nlohmann::json> Status(const std::string& jid) const override;
  std::vector<std::string> KnownJobs() const override;

  // The result a noop job finishes with (without ansible_job_id/started/finished).
  static nlohmann::json NoopResult(const jobs::JobSpec& spec, absl::Time start, absl::Time end);

 private:
  NoopWorker* worker_;
  EventCallback on_event_;
  mutable std::mutex mu_;
  std::map<std::string, nlohmann::json> jobs_;  // guarded by mu_: jid -> async_status result
};

}  // namespace tachyon::agent
