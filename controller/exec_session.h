#pragma once

// One ad-hoc `tachyon exec`: resolve the pattern, start a job per host (at most `forks` waiting
// at once), and report each host's outcome as its completion event arrives. Nothing polls: the
// session wakes on job_finished events from the bus.

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "controller/dispatcher.h"
#include "controller/event_bus.h"
#include "nlohmann/json.hpp"

namespace tachyon::controller {

struct ExecParams {
  std::string pattern;
  std::string module = "command";
  nlohmann::json args = nlohmann::json::object();
  int64_t timeout_seconds = 0;
  int poll_seconds = -1;  // < 0: wait for completion; 0: fire and forget
  int forks = 5;
};

struct ExecUpdate {
  std::string host;
  std::string status;  // ok | changed | failed | unreachable | timed_out | started
  std::string jid;
  nlohmann::json result;
};

class ExecSession : public std::enable_shared_from_this<ExecSession> {
 public:
  using UpdateFn = std::function<void(const ExecUpdate&)>;
  using DoneFn = std::function<void(const absl::Status&)>;

  // Validates the request (pattern matches, module known shape). Errors are user-facing.
  static absl::StatusOr<std::shared_ptr<ExecSession>> Create(Dispatcher* dispatcher, EventBus* bus,
                                                             ExecParams params);
  ~ExecSession();

  // Runs on its own thread; `on_update` and `on_done` are never called after Cancel() returns.
  void Start(UpdateFn on_update, DoneFn on_done);
  void Cancel();

 private:
  ExecSession(Dispatcher* dispatcher, EventBus* bus, ExecParams params,
              std::vector<std::string> hosts);
  void Run();
  void Emit(const ExecUpdate& update);

  Dispatcher* dispatcher_;
  EventBus* bus_;
  ExecParams params_;
  std::vector<std::string> hosts_;
  const std::set<std::string> host_set_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool cancelled_ = false;
  std::deque<store::EventRecord> finished_;  // job_finished events on our hosts
  std::set<std::string> jids_;               // session thread only: jobs still awaited
  // Held while a callback runs and by Cancel(), so no callback runs after Cancel() returns.
  std::recursive_mutex callback_mu_;
  bool callbacks_off_ = false;  // guarded by callback_mu_
  UpdateFn on_update_;          // set once in Start()
  DoneFn on_done_;
  uint64_t subscription_ = 0;
  std::thread thread_;
};

}  // namespace tachyon::controller
