#include "controller/rollout/actions.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace tachyon::rollout {

using nlohmann::json;

bool IsControllerAction(const std::string& action) {
  static const std::set<std::string> kActions = {
      "debug", "set_fact", "assert", "fail", "pause", "meta", "include_vars", "async_status"};
  return kActions.count(action) > 0;
}

absl::StatusOr<json> RunDebug(const json& args, const tmpl::Context& ctx, int verbosity) {
  json result = json::object();
  if (args.contains("msg") && args.contains("var")) {
    return json{{"failed", true}, {"msg", "'msg' and 'var' are incompatible options"}};
  }
  int wanted = 0;
  if (args.contains("verbosity")) {
    ASSIGN_OR_RETURN(json v, tmpl::RenderDeep(args["verbosity"], ctx));
    if (v.is_number_integer()) {
      wanted = v.get<int>();
    } else if (v.is_string()) {
      wanted = std::atoi(v.get<std::string>().c_str());
    }
  }
  if (wanted > verbosity) {
    result["skipped_reason"] = "Verbosity threshold not met.";
    result["skipped"] = true;
    result["changed"] = false;
    result["failed"] = false;
    return result;
  }
  if (args.contains("msg")) {
    ASSIGN_OR_RETURN(result["msg"], tmpl::RenderDeep(args["msg"], ctx));
  } else if (args.contains("var")) {
    const json& var = args["var"];
    json value;
    absl::StatusOr<json> rendered;
    if (var.is_string()) {
      const std::string& name = var.get_ref<const std::string&>();
      // Ansible templates with convert_bare: a bare expression becomes "{{ expr }}", rendered
      // with the usual rules ("{{ n }}" naming a number stays one; "{{ l | length }}" is text).
      rendered = tmpl::RenderValue(
          tmpl::IsPossiblyTemplate(name) ? name : absl::StrCat("{{ ", name, " }}"), ctx);
    } else {
      rendered = tmpl::RenderDeep(var, ctx);
    }
    if (rendered.ok()) {
      value = *rendered;
    } else if (tmpl::IsUndefinedVariableError(rendered.status())) {
      value = "VARIABLE IS NOT DEFINED!";
    } else {
      return rendered.status();
    }
    // Python uses str(type(x)) as the key for list/dict `var`s.
    std::string key = var.is_string()   ? var.get<std::string>()
                      : var.is_array()  ? "<class 'list'>"
                      : var.is_object() ? "<class 'dict'>"
                                        : var.dump();
    result[key] = value;
  } else {
    result["msg"] = "Hello world!";
  }
  result["changed"] = false;
  result["failed"] = false;
  return result;
}

absl::StatusOr<json> RunSetFact(const json& rendered_args) {
  json facts = json::object();
  if (!rendered_args.is_object() || rendered_args.empty()) {
    return json{{"failed", true},
                {"msg",
                 "No key/value pairs provided, at least one is required for this action "
                 "to succeed"},
                {"changed", false}};
  }
  for (const auto& [k, v] : rendered_args.items()) {
    if (k == "cacheable") continue;
    facts[k] = v;
  }
  return json{{"ansible_facts", facts}, {"changed", false}, {"failed", false}};
}

absl::StatusOr<json> RunAssert(const json& args, const tmpl::Context& ctx) {
  if (!args.contains("that")) {
    return json{{"failed", true}, {"msg", "conditional required in \"that\" string"}};
  }
  json fail_msg = args.contains("fail_msg") ? args["fail_msg"]
                  : args.contains("msg")    ? args["msg"]
                                            : json("Assertion failed");
  json success_msg =
      args.contains("success_msg") ? args["success_msg"] : json("All assertions passed");
  ASSIGN_OR_RETURN(fail_msg, tmpl::RenderDeep(fail_msg, ctx));
  ASSIGN_OR_RETURN(success_msg, tmpl::RenderDeep(success_msg, ctx));
  json thats = args["that"];
  if (!thats.is_array()) thats = json::array({thats});
  json result = json::object();
  for (const json& that : thats) {
    bool ok = false;
    if (that.is_boolean()) {
      ok = that.get<bool>();
    } else if (that.is_string()) {
      ASSIGN_OR_RETURN(ok, tmpl::EvalCondition(that.get<std::string>(), ctx));
    } else {
      ASSIGN_OR_RETURN(ok, tmpl::EvalCondition(that.dump(), ctx));
    }
    if (!ok) {
      result["failed"] = true;
      result["evaluated_to"] = false;
      result["assertion"] = that;
      result["msg"] = fail_msg;
      result["changed"] = false;
      return result;
    }
  }
  result["changed"] = false;
  result["failed"] = false;
  result["msg"] = success_msg;
  return result;
}

json RunFail(const json& rendered_args) {
  json msg = rendered_args.is_object() && rendered_args.contains("msg")
                 ? rendered_args["msg"]
                 : json("Failed as requested from task");
  return json{{"changed", false}, {"failed", true}, {"msg", msg}};
}

std::string AsyncResultsFile(const std::string& jid) { return "~/.ansible_async/" + jid; }

json AsyncStartedResult(const std::string& jid) {
  // Ansible's async_wrapper reports `failed: 0` (an int) here, and the start is `changed`.
  return json{{"ansible_job_id", jid}, {"changed", true}, {"failed", 0},
              {"finished", 0},         {"started", 1},    {"results_file", AsyncResultsFile(jid)}};
}

json AsyncRunningResult(const std::string& jid) {
  return json{{"ansible_job_id", jid},
              {"changed", false},
              {"failed", false},
              {"finished", 0},
              {"started", 1},
              {"results_file", AsyncResultsFile(jid)},
              {"stdout", ""},
              {"stderr", ""},
              {"stdout_lines", json::array()},
              {"stderr_lines", json::array()}};
}

json AsyncFinishedResult(const std::string& jid, json module_result, bool failed,
                         const std::string& timeout_msg) {
  if (!module_result.is_object()) module_result = json::object();
  json result = AsyncRunningResult(jid);
  for (auto& [k, v] : module_result.items()) result[k] = v;
  result["ansible_job_id"] = jid;
  result["finished"] = 1;
  result["started"] = 1;
  if (failed) {
    result["failed"] = true;
    if (!timeout_msg.empty() && !result.contains("msg")) result["msg"] = timeout_msg;
  } else if (!result.contains("failed")) {
    result["failed"] = false;
  }
  if (!result.contains("changed")) result["changed"] = false;
  return result;
}

json AsyncNotFoundResult(const std::string& jid) {
  json result = AsyncRunningResult(jid);
  result["failed"] = true;
  result["finished"] = 1;
  result["msg"] = "could not find job";
  return result;
}

}  // namespace tachyon::rollout
