#include "agent/jobs/spool.h"

#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "common/status.h"

namespace tachyon::jobs {

JobPaths::JobPaths(std::string job_dir)
    : dir(std::move(job_dir)),
      spec(dir + "/spec.json"),
      status(dir + "/status.json"),
      stdout_path(dir + "/stdout"),
      stderr_path(dir + "/stderr"),
      stdin_path(dir + "/stdin"),
      shim_pid(dir + "/shim.pid"),
      shim_log(dir + "/shim.log"),
      reported(dir + "/reported"),
      cgroup(dir + "/cgroup") {}

bool IsValidJid(std::string_view jid) {
  if (jid.empty() || jid.size() > 128 || jid == "." || jid == "..") return false;
  for (char c : jid) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return jid[0] != '.';
}

nlohmann::json ShimSpecToJson(const ShimSpec& spec) {
  nlohmann::json env = nlohmann::json::object();
  for (const auto& [k, v] : spec.job.env) env[k] = v;
  return {{"jid", spec.job.jid},
          {"module", spec.job.module},
          {"args", spec.job.args},
          {"timeout_seconds", spec.job.timeout_seconds},
          {"env", env},
          {"cwd", spec.job.cwd},
          {"kill_grace_ms", spec.kill_grace_ms},
          {"max_inline_output", spec.max_inline_output},
          {"max_stored_output", spec.max_stored_output},
          {"cgroup_parent", spec.cgroup_parent}};
}

absl::StatusOr<ShimSpec> ShimSpecFromJson(const nlohmann::json& j) {
  try {
    ShimSpec spec;
    spec.job.jid = j.at("jid").get<std::string>();
    spec.job.module = j.at("module").get<std::string>();
    spec.job.args = j.value("args", nlohmann::json::object());
    spec.job.timeout_seconds = j.value("timeout_seconds", int64_t{0});
    const nlohmann::json env = j.value("env", nlohmann::json::object());
    for (const auto& [k, v] : env.items()) {
      spec.job.env[k] = v.get<std::string>();
    }
    spec.job.cwd = j.value("cwd", std::string());
    spec.kill_grace_ms = j.value("kill_grace_ms", int64_t{5000});
    spec.max_inline_output = j.value("max_inline_output", uint64_t{1} << 20);
    spec.max_stored_output = j.value("max_stored_output", uint64_t{16} << 20);
    spec.cgroup_parent = j.value("cgroup_parent", std::string());
    return spec;
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("bad job spec: ", e.what()));
  }
}

absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::DataLossError(absl::StrCat(path, ": not valid JSON"));
  return j;
}

std::string DumpJson(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

absl::Status WriteJsonFileAtomic(const std::string& path, const nlohmann::json& value,
                                 Durability durability) {
  return WriteFileAtomic(path, DumpJson(value) + "\n", 0600, durability);
}

nlohmann::json RunningResult(const std::string& jid) {
  return {{"ansible_job_id", jid}, {"started", 1}, {"finished", 0}};
}

nlohmann::json LostResult(const std::string& jid) {
  nlohmann::json r = {{"failed", true},
                      {"changed", false},
                      {"msg", "job shim died without a result"},
                      {"lost", true}};
  MarkFinished(jid, &r);
  return r;
}

void MarkFinished(const std::string& jid, nlohmann::json* result) {
  (*result)["ansible_job_id"] = jid;
  (*result)["started"] = 1;
  (*result)["finished"] = 1;
}

}  // namespace tachyon::jobs
