#pragma once

// The job engine: runs jobs as tracked, timed processes and reports what happens to them.
// Plain structs only (no gRPC): the agent links it, and so does the controller's localhost
// executor.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace tachyon::jobs {

enum class JobState { kPending, kRunning, kSucceeded, kFailed, kTimedOut, kKilled, kLost };

const char* JobStateName(JobState state);  // "running", "timed_out", ...
bool IsFinal(JobState state);
// The state a status.json result describes: finished 0 is kRunning; then killed, timed_out,
// lost (the engine's marker for a shim that died without a result), failed, else succeeded.
JobState JobStateFromResult(const nlohmann::json& result);

struct JobSpec {
  std::string jid;
  std::string module;
  nlohmann::json args = nlohmann::json::object();
  int64_t timeout_seconds = 0;  // 0: no timeout
  std::map<std::string, std::string> env;
  std::string cwd;
};

struct JobEvent {
  // kOutput: a chunk of live output, best effort (the final result carries the output anyway),
  // so the agent sends it without storing it in its outbox.
  enum class Kind { kStarted, kFinished, kOutput };
  Kind kind;
  std::string jid;
  JobState state;
  // For kFinished: the Ansible-shaped result (CONTRACT.md "Results"), including
  // ansible_job_id, started, finished.
  nlohmann::json result;
  // kOutput only.
  std::string stream = {};  // "stdout" | "stderr"
  uint64_t offset = 0;      // byte offset of `data` in that stream
  std::string data = {};    // at most 64 KiB
};

class JobEngine {
 public:
  struct Options {
    std::string spool_dir;                  // one directory per job under here
    std::vector<std::string> shim_command;  // argv prefix that runs the shim: {exe, "__shim"}
    absl::Duration kill_grace = absl::Seconds(5);
    size_t max_inline_output = 1u << 20;  // bytes of stdout/stderr carried in a result
    // On Create, scan the spool: re-adopt live shims (their kFinished comes when they exit),
    // report finished jobs whose result never went through on_event, and mark jobs whose shim
    // is gone without a result as kLost. Those events come from the engine thread, possibly
    // before Create returns.
    bool adopt_existing = true;
    // Bytes of each stream kept in the spool; beyond it the shim keeps draining the child and
    // appends one truncation marker.
    size_t max_stored_output = 16u << 20;
    // Bytes of each stream per job sent as live kOutput events (0: no live output).
    size_t max_live_output = 1u << 20;
    // Finished jobs whose result was reported are removed after this long.
    absl::Duration retention = absl::Hours(24 * 7);
    // Run each job in its own cgroup v2 (killed with cgroup.kill) when a writable cgroup2
    // hierarchy is mounted; otherwise, or when false, the job's process group plus the shim
    // as child subreaper contain it (see cgroup.h).
    bool use_cgroup = true;
  };
  using EventCallback = std::function<void(const JobEvent&)>;

  // on_event is called from the engine's own thread, one event at a time, kStarted before
  // kFinished for a job. It may call the engine's methods (no engine lock is held) but must not
  // destroy the engine, and should be quick: it delays the next event.
  static absl::StatusOr<std::unique_ptr<JobEngine>> Create(Options options, EventCallback on_event);
  // Stops the engine thread. Running shims are not killed: they outlive the engine.
  virtual ~JobEngine() = default;

  // Starts a job. Idempotent by jid: a known jid is not run again (returns OK).
  // Unknown module or invalid arguments: InvalidArgument naming the module/argument.
  virtual absl::Status Submit(const JobSpec& spec) = 0;
  // SIGTERM to the job's process group, SIGKILL after the grace; final state kKilled.
  virtual absl::Status Kill(const std::string& jid) = 0;
  // Removes a finished job's data (a running job is killed first). NotFound for unknown jids.
  // For a running job it returns at once: the data goes just before its kFinished event.
  virtual absl::Status Cleanup(const std::string& jid) = 0;
  // The current async_status-shaped result, or NotFound.
  virtual absl::StatusOr<nlohmann::json> Status(const std::string& jid) const = 0;
  virtual std::vector<std::string> KnownJobs() const = 0;
};

// Entry point of the shim process (`tachyon-shim __shim JOB_DIR`, or `tachyon-agent __shim
// JOB_DIR`). Returns the process exit code.
int ShimMain(int argc, char** argv);

// The shim_command for a daemon whose own binary is `self_exe`: the small `tachyon-shim` binary
// when it is next to the daemon (or in this build tree), else `self_exe __shim`.
std::vector<std::string> DefaultShimCommand(const std::string& self_exe);

}  // namespace tachyon::jobs
