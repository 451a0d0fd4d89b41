#pragma once

// The dispatcher owns the job lifecycle on the controller: which agents are connected, which
// jobs went where, and what each agent reported. It takes plain structs from the gRPC edges
// (agent_service, control_service) and writes everything to the Store and the EventBus.

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "controller/agent_link.h"
#include "controller/event_bus.h"
#include "controller/rollout/pattern.h"
#include "controller/store/store.h"
#include "nlohmann/json.hpp"

namespace tachyon::controller {

struct AgentView {
  store::AgentRecord record;
  bool connected = false;
};

// The controller's own host, run by the embedded LocalExecutor; like Ansible's implicit
// localhost it matches only by name, never `all`.
inline constexpr char kLocalhost[] = "localhost";

// Agents refuse a dispatch past its deliver-by time; the controller records the job
// unreachable only this much later, so an agent that accepted just in time is never overruled
// by the controller's timer.
inline constexpr absl::Duration kDeliveryGrace = absl::Seconds(2);

struct DispatcherOptions {
  // A job its agent has not accepted after this long ends as `unreachable` (never delivered).
  absl::Duration delivery_timeout = absl::Minutes(5);
};

class Dispatcher {
 public:
  using Options = DispatcherOptions;
  Dispatcher(store::Store* store, EventBus* bus, Options options = {})
      : store_(store), bus_(bus), options_(options) {}
  ~Dispatcher() { StopTimers(); }

  // The delivery-deadline thread (it sleeps on a condition variable until the next deadline).
  void StartTimers();
  void StopTimers();

  // Startup: every agent recorded as connected by a previous run is now disconnected.
  absl::Status Recover();

  // An agent finished its hello. Replaces an older stream of the same agent. Returns the
  // highest event seq stored for the agent (sent back in the Welcome).
  absl::StatusOr<uint64_t> AgentConnected(const std::string& name, const AgentHello& hello,
                                          std::shared_ptr<AgentLink> link);
  // The stream ended. Ignored unless `link` is the agent's current one.
  void AgentDisconnected(const std::string& name, const AgentLink* link);

  // An agent's job event. PermissionDenied when the job was not dispatched to that agent
  // (the event is dropped). Duplicates (seq already stored) are acked and dropped.
  absl::Status HandleJobEvent(const std::string& agent, const AgentJobEvent& event);
  // `expired`: the agent refused the dispatch because it came after its deliver-by time.
  absl::Status HandleDispatchAck(const std::string& agent, const std::string& jid, bool accepted,
                                 const std::string& error, bool expired = false);

  // Creates the job (pending), records job_dispatched, and sends it when the agent is
  // connected, once the job is on disk (from the event bus's sync thread, soon after this
  // returns). Returns the job id.
  absl::StatusOr<std::string> StartJob(const std::string& host, DispatchRequest request);

  // Runs `fn` once everything stored so far is on disk (EventBus::WhenDurable): an agent's
  // event is acked only then.
  void WhenDurable(std::function<void()> fn);

  // async_status-shaped result for a job ("could not find job" for unknown ones).
  absl::StatusOr<std::pair<store::JobRecord, nlohmann::json>> JobStatus(const std::string& jid);
  // Sends a kill; returns the job as it was. FailedPrecondition if already finished,
  // Unavailable if its agent is not connected.
  absl::StatusOr<store::JobRecord> KillJob(const std::string& jid);
  // Removes a finished job's data here and on its agent. FailedPrecondition while running.
  absl::StatusOr<store::JobRecord> CleanupJob(const std::string& jid);

  absl::StatusOr<std::vector<AgentView>> ListAgents();
  // The highest event seq stored for an agent (0 for one never seen).
  absl::StatusOr<uint64_t> LastAgentSeq(const std::string& name);
  bool IsConnected(const std::string& name);
  // Every known agent as a pattern universe: groups from --group, plus all/ungrouped.
  absl::StatusOr<rollout::HostUniverse> Universe();

  // Drops every link (shutdown).
  void CloseAll(const std::string& reason);
  // Ends one agent's stream (revocation). False when it is not connected.
  bool CloseAgent(const std::string& name, const std::string& reason);

 private:
  std::shared_ptr<AgentLink> LinkFor(const std::string& name);
  absl::Status FinishJob(const std::string& jid, const std::string& host, const std::string& state,
                         nlohmann::json result);

  absl::Status MarkRunning(const store::JobRecord& job, const EventBus::Emit& emit);
  void ScheduleDeliveryDeadline(const std::string& jid, absl::Time deadline);
  void TimerLoop();
  void ExpireDelivery(const std::string& jid);

  store::Store* store_;
  EventBus* bus_;
  const Options options_;

  std::mutex timer_mu_;
  std::condition_variable timer_cv_;
  std::multimap<absl::Time, std::string> deadlines_;  // guarded by timer_mu_
  bool timers_stopping_ = false;                      // guarded by timer_mu_
  std::thread timer_thread_;

  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<AgentLink>> links_ ABSL_GUARDED_BY(mu_);
};

// "ok" | "changed" | "failed" | "timed_out" | "unreachable" for a final job state and result.
std::string OutcomeStatus(const std::string& state, const nlohmann::json& result);
bool IsFinalState(const std::string& state);
// Stored JSON text (a job's result, an agent's facts) as an object; {} when it is not one.
nlohmann::json ParseObject(const std::string& text);

}  // namespace tachyon::controller
