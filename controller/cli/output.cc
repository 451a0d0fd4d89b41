#include "controller/cli/output.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/module_names.h"

namespace tachyon::cli {

using nlohmann::json;

std::string Dump(const json& j, int indent) {
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

int ExitCodeFor(bool any_failed, bool any_unreachable) {
  if (any_failed) return 2;
  if (any_unreachable) return 3;
  return 0;
}

namespace {

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "";
  return it->is_string() ? it->get<std::string>() : Dump(*it);
}

}  // namespace

std::string FormatExecResult(Format format, const std::string& module, const std::string& host,
                             const std::string& status, const json& result) {
  if (format == Format::kJson) {
    json out = result.is_object() ? result : json::object();
    out["host"] = host;
    out["status"] = status;
    return Dump(out) + "\n";
  }
  // Ansible's minimal callback: "host | CHANGED | rc=0 >>" with the output for command-like
  // modules, else "host | SUCCESS => {json}".
  if (status == "unreachable")
    return absl::StrCat(host, " | UNREACHABLE! => ", Dump(result, 4), "\n");
  if (status == "started") return absl::StrCat(host, " | STARTED => ", Dump(result, 4), "\n");
  const bool failed = status == "failed" || status == "timed_out";
  if (IsFreeFormModule(module) && result.contains("rc") && !result.value("timed_out", false)) {
    std::string caption = failed ? "FAILED" : (status == "changed" ? "CHANGED" : "SUCCESS");
    std::string body = Str(result, "stdout");
    std::string err = Str(result, "stderr");
    if (!err.empty()) body += (body.empty() ? "" : "\n") + err;
    std::string msg = Str(result, "msg");
    if (failed && !msg.empty()) body += (body.empty() ? "" : "\n") + msg;
    return absl::StrCat(host, " | ", caption, " | rc=", Str(result, "rc"), " >>\n", body, "\n");
  }
  std::string caption = failed ? "FAILED!" : (status == "changed" ? "CHANGED" : "SUCCESS");
  return absl::StrCat(host, " | ", caption, " => ", Dump(result, 4), "\n");
}

std::string FormatEvent(Format format, uint64_t seq, const std::string& ts, const std::string& type,
                        const std::string& host, const std::string& jid, const std::string& rollout,
                        const json& data) {
  if (format == Format::kJson) {
    json out = data.is_object() ? data : json::object();
    out["seq"] = seq;
    out["ts"] = ts;
    out["type"] = type;
    out["host"] = host;
    out["jid"] = jid;
    out["rollout"] = rollout;
    return Dump(out) + "\n";
  }
  std::string line = absl::StrCat(seq, " ", ts, " ", type);
  if (!host.empty()) absl::StrAppend(&line, " host=", host);
  if (!jid.empty()) absl::StrAppend(&line, " jid=", jid);
  if (!rollout.empty()) absl::StrAppend(&line, " rollout=", rollout);
  if (data.is_object()) {
    for (const auto& [k, v] : data.items()) {
      if (k == "result") {
        // The headline of a result: rc and msg; the whole object is in -o json.
        if (v.contains("rc")) absl::StrAppend(&line, " rc=", Str(v, "rc"));
        std::string msg = Str(v, "msg");
        if (!msg.empty()) absl::StrAppend(&line, " msg=", Dump(json(msg)));
        continue;
      }
      // Plain words stay bare; anything with spaces or control characters is quoted as JSON,
      // so one event is always one line.
      bool bare = v.is_string() && !v.get<std::string>().empty() &&
                  v.get<std::string>().find_first_of(" \t\r\n\"\\") == std::string::npos;
      absl::StrAppend(&line, " ", k, "=", bare ? v.get<std::string>() : Dump(v));
    }
  }
  return line + "\n";
}

}  // namespace tachyon::cli
