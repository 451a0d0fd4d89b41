#pragma once

// Controller-side actions whose result shapes must match ansible-core 2.14 exactly: debug,
// set_fact, assert, fail, and the async_status/async-start shapes. Pure functions over JSON and
// a template context, so that the executor and the differential tests share them.

#include <string>

#include "absl/status/statusor.h"
#include "controller/template/template.h"
#include "nlohmann/json.hpp"

namespace tachyon::rollout {

// The module names executed on the controller rather than sent to an agent.
bool IsControllerAction(const std::string& action);

// debug: `args` are the task's untemplated arguments (`var` is looked up by name, `msg` is
// templated here). A verbosity above `verbosity` gives Ansible's skipped shape.
absl::StatusOr<nlohmann::json> RunDebug(const nlohmann::json& args, const tmpl::Context& ctx,
                                        int verbosity);

// set_fact: templated arguments in, {"ansible_facts": {...}, "changed": false} out
// (`cacheable` is consumed, not set).
absl::StatusOr<nlohmann::json> RunSetFact(const nlohmann::json& rendered_args);

// assert: `that` is evaluated untemplated, one condition after another; the first false one
// fails with {assertion, evaluated_to, msg}.
absl::StatusOr<nlohmann::json> RunAssert(const nlohmann::json& args, const tmpl::Context& ctx);

// fail: {"failed": true, "msg": msg or "Failed as requested from task"}.
nlohmann::json RunFail(const nlohmann::json& rendered_args);

// What `async: N` + `poll: 0` registers.
nlohmann::json AsyncStartedResult(const std::string& jid);

// async_status for a job still running.
nlohmann::json AsyncRunningResult(const std::string& jid);

// async_status (or async + poll > 0) for a finished job: the module result with the async
// fields added.
nlohmann::json AsyncFinishedResult(const std::string& jid, nlohmann::json module_result,
                                   bool failed, const std::string& timeout_msg);

// async_status for an unknown job id.
nlohmann::json AsyncNotFoundResult(const std::string& jid);

// Where Ansible's async_wrapper keeps results; reported, never read.
std::string AsyncResultsFile(const std::string& jid);

}  // namespace tachyon::rollout
