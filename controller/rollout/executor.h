#pragma once

// The playbook executor core: runs a loaded Playbook against an Inventory with Ansible's
// linear strategy. Domain code only (no gRPC): jobs reach the fleet through the TaskRunner
// seam, progress leaves through the EventSink seam, and time goes through an injected Clock so
// that tests never sleep. docs/EXECUTOR.md lists the Ansible semantics implemented.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controller/rollout/inventory.h"
#include "controller/rollout/playbook.h"
#include "nlohmann/json.hpp"

namespace tachyon::rollout {

// Monotonic time for `delay`, `pause` and `loop_control.pause`; faked in tests.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() = 0;
  virtual void SleepUntil(absl::Time deadline) = 0;
};

// The process-wide real clock.
Clock* RealClock();

enum class JobState { kPending, kRunning, kSucceeded, kFailed, kTimedOut };

bool IsTerminal(JobState state);

struct JobResult {
  JobState state = JobState::kPending;
  // The module's Ansible-shaped result (rc, stdout, stderr, changed, failed, msg, ...). For a
  // job still running it may be empty or hold partial output.
  nlohmann::json result = nlohmann::json::object();
};

// The seam to the fleet. Job ids are fleet-wide: JobStatus/AwaitJob find a job wherever it runs.
// Implementations must be thread-safe (the executor calls from up to `forks` threads).
class TaskRunner {
 public:
  virtual ~TaskRunner() = default;
  // Starts `module` on `host` with `args_json` (a JSON object, already templated). A
  // `timeout_seconds` of 0 means none; otherwise the job is killed and ends kTimedOut.
  virtual absl::StatusOr<std::string> StartJob(const std::string& host, const std::string& module,
                                               const std::string& args_json, int timeout_seconds,
                                               const std::map<std::string, std::string>& env) = 0;
  // Push semantics, never polling: returns at once if the job is terminal; otherwise blocks
  // until its state changes (returning the new state) or `max_wait` passes (returning nullopt).
  // NotFound for an unknown job id.
  virtual absl::StatusOr<std::optional<JobResult>> AwaitJob(const std::string& jid,
                                                           absl::Duration max_wait) = 0;
  // The job's current state without waiting. NotFound for an unknown job id.
  virtual absl::StatusOr<JobResult> JobStatus(const std::string& jid) = 0;
  // Forgets a finished job (async_status mode=cleanup).
  virtual absl::Status CleanupJob(const std::string& jid) = 0;
  // False when the host has no connected agent: its tasks end `unreachable`.
  virtual bool IsReachable(const std::string& host) = 0;
};

// Mirrors CONTRACT.md's `-o json` events as plain structs.
struct PlayStartEvent {
  std::string play;
  std::vector<std::string> hosts;
};

struct TaskStartEvent {
  std::string play;
  std::string task;
  bool is_handler = false;
  std::string action;  // short module name ("debug", "command", ...)
};

struct ResultEvent {
  std::string play;
  std::string task;
  std::string host;
  std::string status;  // ok | changed | failed | skipped | unreachable
  bool ignored = false;
  bool is_item = false;  // one item of a loop (its aggregate follows)
  nlohmann::json result = nlohmann::json::object();
};

// A play's `tachyon_gate` checked after a batch.
struct GateEvent {
  std::string play;
  int batch = 0;  // 1-based
  bool ok = false;
  std::string on_failure;  // pause | abort
  nlohmann::json result = nlohmann::json::object();
};

struct HostStats {
  int ok = 0, changed = 0, unreachable = 0, failed = 0, skipped = 0, rescued = 0, ignored = 0;
};

struct RecapEvent {
  std::map<std::string, HostStats> hosts;
  int rc = 0;
};

nlohmann::json ToJson(const ResultEvent& event);
nlohmann::json ToJson(const RecapEvent& event);

// Receives events in order. Called from worker threads, serialised by the executor.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void OnPlayStart(const PlayStartEvent& /*event*/) {}
  virtual void OnTaskStart(const TaskStartEvent& /*event*/) {}
  virtual void OnResult(const ResultEvent& event) = 0;
  virtual void OnRecap(const RecapEvent& event) = 0;
  // Warnings and notes Ansible would print ([WARNING]: ...).
  virtual void OnWarning(const std::string& /*message*/) {}
  // A health gate's verdict (tachyon extension).
  virtual void OnGate(const GateEvent& /*event*/) {}
};

struct ExecutorOptions {
  int forks = 5;
  nlohmann::json extra_vars = nlohmann::json::object();
  bool check_mode = false;
  bool diff = false;
  int verbosity = 0;
  std::vector<std::string> tags;       // --tags (empty: all)
  std::vector<std::string> skip_tags;  // --skip-tags
  std::string limit;                   // --limit pattern (empty: none)
  // Facts per host (from the agent's hello); exposed as ansible_facts and ansible_* names.
  std::function<nlohmann::json(const std::string& host)> facts;
  Clock* clock = nullptr;  // nullptr: RealClock()
  // Called before a task starts on the batch and before each host starts a task: it may block
  // (a paused rollout), and returns false to stop the run (an aborted rollout): nothing new
  // starts, running work finishes, and Run() returns kRcAborted. Unset: always go on.
  std::function<bool()> gate;
  // A play's `tachyon_gate` failed after a batch: `action` is "pause" or "abort". The next
  // gate() call then blocks or stops. Unset: a failed health gate stops the play.
  std::function<void(const std::string& action, const std::string& reason)> on_gate_failure;
  // copy/template/script read controller-side files only below this directory (the uploaded
  // bundle); empty: anywhere.
  std::string file_root;
};

// ansible-playbook's exit codes as CONTRACT.md numbers them.
constexpr int kRcOk = 0;
constexpr int kRcError = 1;
constexpr int kRcFailedHosts = 2;
constexpr int kRcUnreachableHosts = 3;
constexpr int kRcParseError = 4;
constexpr int kRcAborted = 99;

class Executor {
 public:
  static absl::StatusOr<std::unique_ptr<Executor>> Create(Playbook* playbook,
                                                          Inventory* inventory,
                                                          TaskRunner* runner, EventSink* sink,
                                                          ExecutorOptions options);
  ~Executor();

  // Runs every play; emits the recap and returns the rc. A Status error only for what stops
  // the run outright (a malformed host pattern, an internal error).
  absl::StatusOr<int> Run();

  // Registered variables and facts per host after Run(), for tests and the rollout store.
  nlohmann::json HostVarsSnapshot(const std::string& host) const;

 private:
  class Impl;
  explicit Executor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tachyon::rollout
