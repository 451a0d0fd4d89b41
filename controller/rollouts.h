#pragma once

// Rollouts: `tachyon run` on the controller. The CLI uploads the playbook directory (a
// bundle); the RolloutManager stores it under STATE/rollouts/ID/, records the rollout in the
// Store, and runs the playbook executor (controller/rollout/executor.h) on a thread of its own,
// so the rollout outlives the CLI. Jobs go to the fleet through the Dispatcher; progress goes to
// the event log (play_started, task_started, host_result, rollout_finished), which is what
// `run`, `rollout watch` and `events --rollout` read.
//
// Restarts: a rollout still `running` when the controller starts again is resumed. The
// executor replays the playbook from the start; every job it asks for that the rollout already
// started (same host, module and arguments, n-th time) is re-attached instead of started again,
// events already in the log are not repeated, and waits (pause, loop_control.pause) are skipped
// while replaying. So the rollout continues at the task where it stopped, with its registered
// variables and facts rebuilt. Domain code: no gRPC.

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controller/dispatcher.h"
#include "controller/event_bus.h"
#include "controller/store/store.h"
#include "nlohmann/json.hpp"

namespace tachyon::controller {

// One uploaded file.
struct BundleFile {
  std::string path;  // relative, '/'-separated, no `..`
  std::string content;
  uint32_t mode = 0644;
};

// What `tachyon run` asked for; stored with the rollout so that a restart can resume it.
struct RolloutSpec {
  std::string playbook;                  // path inside the bundle
  std::vector<std::string> inventories;  // paths inside the bundle, or "a,b," host lists
  std::string limit;
  int forks = 5;
  std::vector<std::string> extra_vars;  // -e values; "@PATH" names a bundle file
  bool check = false;
  bool diff = false;
  std::vector<std::string> tags, skip_tags;
  int verbosity = 0;
  std::string origin;  // the operator's directory the bundle came from

  nlohmann::json ToJson() const;
  static RolloutSpec FromJson(const nlohmann::json& j);
};

struct RolloutManagerOptions {
  std::string state_dir;  // bundles live in STATE/rollouts/ID/bundle
  // On resume, how long to wait for the rollout's agents to reconnect before carrying on (an
  // agent still away then makes its host unreachable, as it would for a fresh rollout).
  absl::Duration reconnect_wait = absl::Seconds(30);
};

class RolloutManager {
 public:
  using Options = RolloutManagerOptions;
  RolloutManager(store::Store* store, EventBus* bus, Dispatcher* dispatcher, Options options);
  ~RolloutManager();

  // Stores the bundle, loads the playbook and the inventory, and starts the rollout. Errors:
  // InvalidArgument for a bad bundle or bad options (exit 5), FailedPrecondition when the
  // playbook or the inventory does not parse (exit 4; FILE:LINE:COLUMN in the message, with
  // the operator's paths).
  absl::StatusOr<std::string> Start(RolloutSpec spec, std::vector<BundleFile> files);

  // Live steering. Pause lets running tasks finish and starts nothing new; Resume goes on;
  // Abort starts nothing new, kills the rollout's running jobs when `kill`, and the rollout
  // ends `aborted` (watchers exit 99) once its running work is over. `by` names the operator.
  // NotFound for an unknown rollout; FailedPrecondition for one already over.
  absl::StatusOr<store::RolloutRecord> Pause(const std::string& id, const std::string& by);
  absl::StatusOr<store::RolloutRecord> Resume(const std::string& id, const std::string& by);
  absl::StatusOr<store::RolloutRecord> Abort(const std::string& id, bool kill,
                                             const std::string& by);

  // Startup: resumes every rollout left `running` by a previous controller.
  absl::Status ResumeAll();

  // Shutdown: interrupts every rollout (they stay `running` in the store, to be resumed) and
  // joins their threads.
  void Stop();

 private:
  class Run;

  std::string BundleDir(const std::string& id) const;
  // The live run of `id`, or the reason there is none.
  absl::StatusOr<std::shared_ptr<Run>> LiveRun(const std::string& id);
  void ReapFinished();

  store::Store* store_;
  EventBus* bus_;
  Dispatcher* dispatcher_;
  const Options options_;

  std::mutex mu_;
  bool stopping_ = false;                         // guarded by mu_
  std::map<std::string, std::shared_ptr<Run>> runs_;  // guarded by mu_
};

}  // namespace tachyon::controller
