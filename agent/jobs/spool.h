#pragma once

// The on-disk contract between the engine and its shims: one directory per job under the
// spool, holding the spec (engine -> shim), the status (shim -> engine, atomically replaced),
// the captured output and the shim's pid. Everything that re-adopts jobs after an agent
// restart reads only these files.

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/jobs/job_engine.h"
#include "common/fs.h"
#include "nlohmann/json.hpp"

namespace tachyon::jobs {

struct JobPaths {
  explicit JobPaths(std::string job_dir);

  std::string dir;
  std::string spec;    // spec.json, written before the shim starts
  std::string status;  // status.json, {"started":1,"finished":0} then the final result
  std::string stdout_path;
  std::string stderr_path;
  std::string stdin_path;  // only when the module passes data on stdin
  std::string shim_pid;    // written by the shim itself, read when re-adopting
  std::string shim_log;    // the shim's own stdout/stderr, for diagnosing the shim
  std::string reported;    // exists once the final result went through on_event
  std::string cgroup;      // the job's cgroup directory, when the shim made one
};

// The shim's exit code when it could not write status.json because the spool's filesystem is
// full (EX_TEMPFAIL): the engine then reports the job lost and says why.
constexpr int kShimExitSpoolFull = 75;

// A jid is one path component of safe characters (Ansible's look like j123.456).
bool IsValidJid(std::string_view jid);

// What the shim is told, in spec.json.
struct ShimSpec {
  JobSpec job;
  int64_t kill_grace_ms = 5000;
  uint64_t max_inline_output = 1u << 20;
  uint64_t max_stored_output = 16u << 20;  // per stream, in the spool
  // Where to make the job's cgroup (see cgroup.h); empty: process group + subreaper only.
  std::string cgroup_parent;
};

nlohmann::json ShimSpecToJson(const ShimSpec& spec);
absl::StatusOr<ShimSpec> ShimSpecFromJson(const nlohmann::json& j);

// Parses a JSON file; a parse error is a Status naming the file (no exception escapes).
absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path);
// Atomic (temp, fsync, rename), mode 0600; invalid UTF-8 in strings is replaced, never thrown.
absl::Status WriteJsonFileAtomic(const std::string& path, const nlohmann::json& value,
                                 Durability durability = Durability::kDurable);
// Serialises without ever throwing on invalid UTF-8.
std::string DumpJson(const nlohmann::json& value);

// {"ansible_job_id": jid, "started": 1, "finished": 0}
nlohmann::json RunningResult(const std::string& jid);
// The result of a job whose shim died without writing one.
nlohmann::json LostResult(const std::string& jid);
// Adds ansible_job_id, started: 1, finished: 1.
void MarkFinished(const std::string& jid, nlohmann::json* result);

}  // namespace tachyon::jobs
