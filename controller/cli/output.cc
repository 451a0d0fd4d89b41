#include "controller/cli/output.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
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

std::string Banner(const std::string& text) {
  // ansible's display: the message, a space, then stars up to 79 columns (at least 3).
  size_t stars = text.size() + 3 >= 79 ? 3 : 79 - text.size();
  return absl::StrCat("\n", text, " ", std::string(stars, '*'), "\n");
}

namespace {

// ansible's default callback shows a result's JSON only for debug-like actions (they set
// _ansible_verbose_always) or with -v.
bool ShowsResult(const std::string& action) {
  return action == "debug" || action == "assert" || action == "fail" || action == "set_fact";
}

std::string ItemLabel(const json& data) {
  json r = data.value("result", json::object());
  if (!r.is_object()) r = json::object();
  if (r.contains("_ansible_item_label")) return Str(r, "_ansible_item_label");
  if (data.contains("item")) return Str(data, "item");
  return Str(r, "item");
}

}  // namespace

std::string RolloutPrinter::OnEvent(const std::string& type, const std::string& host,
                                    const json& data) {
  if (type == "rollout_finished" || type == "rollout_aborted") {
    finished_ = true;
    rc_ = type == "rollout_aborted" ? 99 : data.value("rc", 1);
    error_ = Str(data, "error");
  }
  if (type == "play_started") {
    play_hosts_.clear();
    if (auto it = data.find("hosts"); it != data.end() && it->is_array()) {
      for (const auto& h : *it) {
        if (h.is_string()) play_hosts_.push_back(h.get<std::string>());
      }
    }
    gone_.clear();
    running_.clear();
  } else if (type == "task_started") {
    action_ = Str(data, "action");
    running_.clear();
    for (const auto& h : play_hosts_) {
      if (!gone_.count(h)) running_.push_back(h);
    }
  } else if (type == "host_result" && !data.value("item_result", false)) {
    running_.erase(std::remove(running_.begin(), running_.end(), host), running_.end());
    std::string status = Str(data, "status");
    if ((status == "failed" && !data.value("ignored", false)) || status == "unreachable") {
      gone_.insert(host);
    }
  }

  // The jobs behind the tasks are in `tachyon events --rollout ID`; a rollout's story is told
  // by its plays, tasks and results.
  if (type.rfind("job_", 0) == 0 || type.rfind("agent_", 0) == 0) return "";
  if (format_ == Format::kJson) {
    json out = data.is_object() ? data : json::object();
    std::string out_type = type;
    if (type == "host_result") {
      out_type = "result";
      out.erase("item_result");
      out["host"] = host;
    } else if (type == "rollout_finished") {
      out_type = "recap";
    } else if (type == "play_started") {
      out_type = "play";
    } else if (type == "task_started") {
      out_type = "task";
    } else if (type == "rollout_warning") {
      out_type = "warning";
    } else if (type == "rollout_gate") {
      out_type = "gate";
    }
    // "type" first, for people reading the stream.
    nlohmann::ordered_json line = {{"type", out_type}};
    for (auto& [k, v] : out.items()) line[k] = v;
    return line.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  }

  if (type == "play_started") return Banner(absl::StrCat("PLAY [", Str(data, "play"), "]"));
  if (type == "task_started") {
    return Banner(absl::StrCat(data.value("handler", false) ? "RUNNING HANDLER [" : "TASK [",
                               Str(data, "task"), "]"));
  }
  if (type == "rollout_warning") return absl::StrCat("[WARNING]: ", Str(data, "msg"), "\n");
  if (type == "rollout_gate") {
    std::string head = Banner(absl::StrCat("GATE [after batch ", Str(data, "batch"), "]"));
    if (data.value("ok", false)) return head + "ok: [localhost]\n";
    return absl::StrCat(head, "failed: [localhost] => ", Dump(data.value("result", json::object())),
                        "\n(on failure: ", Str(data, "on_failure"), ")\n");
  }
  if (type == "rollout_resumed" || type == "rollout_paused") {
    std::string why = data.contains("by") ? " by " + Str(data, "by") : ": " + Str(data, "reason");
    return absl::StrCat("\n[rollout ", type == "rollout_resumed" ? "resumed" : "paused",
                        data.contains("by") || data.contains("reason") ? why : "", "]\n");
  }
  if (type == "host_result") {
    const std::string status = Str(data, "status");
    json result = data.value("result", json::object());
    if (!result.is_object()) result = json::object();
    const bool item = data.value("item_result", false);
    const bool ignored = data.value("ignored", false);
    // Loop aggregates print nothing of their own for ok/changed/skipped, as in Ansible.
    if (!item && result.contains("results") && status != "failed" && status != "unreachable") {
      return "";
    }
    std::string item_part = item ? absl::StrCat(" (item=", ItemLabel(data), ")") : "";
    std::string line;
    if (status == "ok" || status == "changed") {
      line = absl::StrCat(status, ": [", host, "]", item ? " =>" : "", item_part);
      if (ShowsResult(action_)) {
        json shown = result;
        shown.erase("changed");
        shown.erase("failed");
        shown.erase("_ansible_item_label");
        absl::StrAppend(&line, " => ", Dump(shown, 4));
      }
    } else if (status == "skipped") {
      line = absl::StrCat("skipping: [", host, "]", item ? " =>" : "", item_part);
    } else if (status == "unreachable") {
      line = absl::StrCat("fatal: [", host, "]: UNREACHABLE! => ", Dump(result));
    } else {
      line = absl::StrCat("failed: [", host, "]", item_part, " => ", Dump(result));
      if (ignored && !item) absl::StrAppend(&line, "\n...ignoring");
    }
    return line + "\n";
  }
  if (type == "rollout_finished" || type == "rollout_aborted") {
    std::string out;
    if (type == "rollout_aborted") {
      out = absl::StrCat("\n[rollout aborted", data.contains("by") ? " by " + Str(data, "by") : "",
                         "]\n");
    }
    absl::StrAppend(&out, Banner("PLAY RECAP"));
    if (auto it = data.find("hosts"); it != data.end() && it->is_object()) {
      for (const auto& [h, c] : it->items()) {
        auto n = [&](const char* k) { return absl::StrFormat("%s=%-4d", k, c.value(k, 0)); };
        absl::StrAppend(&out, absl::StrFormat("%-26s : ", h), n("ok"), " ", n("changed"), " ",
                        n("unreachable"), " ", n("failed"), " ", n("skipped"), " ", n("rescued"),
                        " ", n("ignored"), "\n");
      }
    }
    return out;
  }
  return "";
}

std::string RolloutPrinter::LiveLine(double seconds_in_task) const {
  if (finished_ || running_.empty()) return "";
  std::string hosts;
  size_t shown = 0;
  for (const auto& h : running_) {
    if (shown == 8) {
      absl::StrAppend(&hosts, ", +", running_.size() - shown, " more");
      break;
    }
    absl::StrAppend(&hosts, shown ? ", " : "", h);
    ++shown;
  }
  return absl::StrFormat("  running (%.0fs): %s", seconds_in_task, hosts);
}

}  // namespace tachyon::cli
