#pragma once

// The module interface: what a job runs. A module is split in three so that bad input is
// refused before anything starts, and so that the shim (not the agent) does the work:
//   Validate  - in the engine, before the job is accepted (no side effects);
//   Prepare   - in the shim, decides what process to run, or answers at once (ping, skips);
//   Finish    - in the shim, turns the process outcome into an Ansible-shaped result.
// Adding a module is one file that implements this interface plus one line in registry.cc.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace tachyon::modules {

// A process for the shim to start: argv[0] is looked up in PATH, as Python's subprocess does.
// The child inherits the shim's working directory, which Prepare may change (chdir).
struct ExecPlan {
  std::vector<std::string> argv;
  std::optional<std::string> stdin_data;  // empty: stdin is /dev/null
};

struct Prepared {
  // When set, the shim runs this process and calls Finish; otherwise `result` is final.
  std::optional<ExecPlan> exec;
  // The final result when nothing runs; otherwise state carried over to Finish.
  nlohmann::json result = nlohmann::json::object();
};

// What happened to the process. Outputs are at most the engine's max_inline_output bytes.
struct ProcessOutcome {
  bool exited = false;  // exited normally with exit_code
  int exit_code = 0;
  int term_signal = 0;  // killed by this signal
  int exec_errno = 0;   // nonzero: the process could not be started (execvp failed)
  absl::Time start;
  absl::Time end;
  absl::Duration elapsed;  // measured on CLOCK_MONOTONIC
  std::string stdout_data;
  std::string stderr_data;
  bool stdout_truncated = false;
  bool stderr_truncated = false;

  // Python subprocess's returncode: the exit code, or -signal.
  int ReturnCode() const { return exited ? exit_code : -term_signal; }
};

class Module {
 public:
  virtual ~Module() = default;
  virtual std::string_view Name() const = 0;
  // InvalidArgument with an Ansible-like message when the arguments are unusable.
  virtual absl::Status Validate(const nlohmann::json& args) const = 0;
  // Runs in the shim process (single-threaded, its own), already in the job's working
  // directory `cwd` (empty: inherited) and environment; it may chdir further. Failures are
  // results (failed: true), not Statuses: they are the job's outcome.
  virtual Prepared Prepare(const nlohmann::json& args, const std::string& cwd) const = 0;
  virtual nlohmann::json Finish(const Prepared& prepared, const ProcessOutcome& outcome) const = 0;
  // The name of a host-wide lock the shim must hold (an exclusive flock on
  // STATE/locks/NAME.lock, waited for) from before Prepare until the result is written; ""
  // for none. Package managers use "package" so that two package jobs never overlap.
  virtual std::string HostLock(const nlohmann::json& args) const { return ""; }
};

// A module that does all its work in Prepare and never starts a process (copy, file, stat...).
class InlineModule : public Module {
 public:
  nlohmann::json Finish(const Prepared& prepared, const ProcessOutcome& outcome) const override {
    return prepared.result;
  }
};

// The module called `name`, or nullptr. Modules are stateless singletons.
const Module* FindModule(std::string_view name);
std::vector<std::string> ModuleNames();

// Module factories, one per module file; registry.cc lists them.
std::unique_ptr<Module> MakeCommandModule();
std::unique_ptr<Module> MakeShellModule();
std::unique_ptr<Module> MakePingModule();
std::unique_ptr<Module> MakeRawModule();
std::unique_ptr<Module> MakeScriptModule();
std::unique_ptr<Module> MakeCopyModule();
std::unique_ptr<Module> MakeFileModule();
std::unique_ptr<Module> MakeStatModule();
std::unique_ptr<Module> MakeLineInFileModule();
std::unique_ptr<Module> MakeSetupModule();
std::unique_ptr<Module> MakeWaitForModule();
std::unique_ptr<Module> MakePackageModule();
std::unique_ptr<Module> MakeAptModule();
std::unique_ptr<Module> MakeDnfModule();
std::unique_ptr<Module> MakeYumModule();
std::unique_ptr<Module> MakeServiceModule();
std::unique_ptr<Module> MakeSystemdModule();
std::unique_ptr<Module> MakeSystemdServiceModule();
std::unique_ptr<Module> MakeUriModule();

}  // namespace tachyon::modules
