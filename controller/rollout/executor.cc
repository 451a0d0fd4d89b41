#include "controller/rollout/executor.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/limits.h"
#include "common/status.h"
#include "controller/rollout/actions.h"
#include "controller/rollout/controller_files.h"
#include "controller/rollout/kv_args.h"
#include "controller/rollout/pattern.h"
#include "controller/template/template.h"

namespace tachyon::rollout {
namespace {

using nlohmann::json;

constexpr size_t kMaxRuntimeRoles = 4096;
constexpr char kOmit[] = "__omit_place_holder__tachyon";
constexpr char kNoLogMsg[] =
    "the output has been hidden due to the fact that 'no_log: true' was specified for this result";

class RealClockImpl : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }
  void SleepUntil(absl::Time deadline) override {
    absl::Duration d = deadline - absl::Now();
    if (d > absl::ZeroDuration()) absl::SleepFor(d);
  }
};

bool Truthy(const json& v) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) return v.get<double>() != 0;
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    std::transform(s.begin(), s.end(), s.begin(), ::tolower);
    return s == "yes" || s == "true" || s == "on" || s == "1" || s == "y";
  }
  return !v.is_null() && !v.empty();
}

bool IsFailed(const json& r) { return r.contains("failed") && Truthy(r["failed"]); }
bool IsChanged(const json& r) { return r.contains("changed") && Truthy(r["changed"]); }
bool IsSkipped(const json& r) { return r.contains("skipped") && Truthy(r["skipped"]); }

void Merge(json* into, const json& from) {
  if (!from.is_object()) return;
  for (const auto& [k, v] : from.items()) (*into)[k] = v;
}

json RemoveOmit(const json& v) {
  if (v.is_object()) {
    json out = json::object();
    for (const auto& [k, x] : v.items()) {
      if (x.is_string() && x.get<std::string>() == kOmit) continue;
      out[k] = RemoveOmit(x);
    }
    return out;
  }
  if (v.is_array()) {
    json out = json::array();
    for (const auto& x : v) {
      if (x.is_string() && x.get<std::string>() == kOmit) continue;
      out.push_back(RemoveOmit(x));
    }
    return out;
  }
  return v;
}

// Tags of a keyword value: a string "a,b" or a list.
std::set<std::string> TagSet(const Keyword* kw) {
  std::set<std::string> out;
  if (kw == nullptr) return out;
  auto add = [&](const json& v) {
    if (v.is_string()) {
      for (absl::string_view t : absl::StrSplit(v.get<std::string>(), ',')) {
        std::string s(t);
        s.erase(0, s.find_first_not_of(' '));
        s.erase(s.find_last_not_of(' ') + 1);
        if (!s.empty()) out.insert(s);
      }
    } else if (v.is_number()) {
      out.insert(v.dump());
    }
  };
  if (kw->value.is_array()) {
    for (const auto& v : kw->value) add(v);
  } else {
    add(kw->value);
  }
  return out;
}

std::string JsonToText(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// A task that could not run (templating, bad arguments, runner errors) fails on its host, with
// Ansible's wording for undefined variables.
json ErrorResult(const absl::Status& st) {
  std::string msg(st.message());
  if (tmpl::IsUndefinedVariableError(st) && msg.rfind("The conditional check", 0) != 0) {
    msg = absl::StrCat("The task includes an option with an undefined variable. The error was: ",
                       msg);
  }
  return json{{"failed", true}, {"changed", false}, {"msg", msg}};
}

// Free-form arguments are split before templating, as Ansible's split_args does, keeping each
// Jinja block ("{{ a.b }}" with its spaces) inside one token: blocks are swapped for
// placeholders while ParseModuleArgs splits, then put back.
absl::StatusOr<json> ParseFreeForm(const std::string& module, const std::string& raw) {
  // `include_vars: vars/x.yml`: a bare file name is the action's _raw_params, as parse_kv
  // leaves it.
  if (module == "include_vars" && raw.find('=') == std::string::npos) {
    return json{{"_raw_params", std::string(absl::StripAsciiWhitespace(raw))}};
  }
  std::vector<std::string> blocks;
  std::string masked;
  size_t i = 0;
  while (i < raw.size()) {
    size_t open = std::string::npos;
    for (const char* o : {"{{", "{%", "{#"}) open = std::min(open, raw.find(o, i));
    if (open == std::string::npos) break;
    std::string close = raw[open + 1] == '{' ? "}}" : raw[open + 1] == '%' ? "%}" : "#}";
    size_t end = raw.find(close, open + 2);
    if (end == std::string::npos) break;
    masked += raw.substr(i, open - i);
    masked += "\x01" + std::to_string(blocks.size()) + "\x02";
    blocks.push_back(raw.substr(open, end + 2 - open));
    i = end + 2;
  }
  masked += raw.substr(i);
  ASSIGN_OR_RETURN(json parsed, ParseModuleArgs(module, masked));
  std::function<void(json*)> restore = [&](json* v) {
    if (v->is_string()) {
      std::string s = v->get<std::string>();
      std::string out;
      size_t p = 0;
      while (p < s.size()) {
        size_t a = s.find('\x01', p);
        size_t b = a == std::string::npos ? a : s.find('\x02', a);
        if (b == std::string::npos) break;
        out += s.substr(p, a - p);
        out += blocks[std::stoul(s.substr(a + 1, b - a - 1))];
        p = b + 1;
      }
      *v = out + s.substr(p);
    } else if (v->is_object() || v->is_array()) {
      for (auto& x : *v) restore(&x);
    }
  };
  restore(&parsed);
  return parsed;
}

}  // namespace

Clock* RealClock() {
  static RealClockImpl* clock = new RealClockImpl();
  return clock;
}

bool IsTerminal(JobState state) {
  return state == JobState::kSucceeded || state == JobState::kFailed ||
         state == JobState::kTimedOut;
}

json ToJson(const ResultEvent& e) {
  json out = {{"type", "result"},   {"play", e.play},       {"task", e.task},    {"host", e.host},
              {"status", e.status}, {"ignored", e.ignored}, {"result", e.result}};
  if (e.is_item && e.result.is_object()) {
    // CONTRACT.md: item events carry "item", whatever the loop_var is called.
    std::string loop_var = e.result.value("ansible_loop_var", std::string("item"));
    out["item"] = e.result.contains(loop_var) ? e.result[loop_var] : json(nullptr);
  }
  return out;
}

namespace {

// Ansible's Play.get_name(): the name, else the host patterns joined with ",".
std::string PlayName(const Play& play) {
  if (!play.name.empty()) return play.name;
  const json& h = play.hosts.value;
  if (h.is_array()) {
    std::string out;
    for (const auto& p : h)
      out += (out.empty() ? "" : ",") + (p.is_string() ? p.get<std::string>() : p.dump());
    return out;
  }
  return h.is_string() ? h.get<std::string>() : h.dump();
}

}  // namespace

json ToJson(const RecapEvent& e) {
  json hosts = json::object();
  for (const auto& [h, s] : e.hosts) {
    hosts[h] = json{{"ok", s.ok},          {"changed", s.changed}, {"unreachable", s.unreachable},
                    {"failed", s.failed},  {"skipped", s.skipped}, {"rescued", s.rescued},
                    {"ignored", s.ignored}};
  }
  return json{{"type", "recap"}, {"hosts", hosts}, {"rc", e.rc}};
}

// ---------------------------------------------------------------------------------------------

class Executor::Impl {
 public:
  Impl(Playbook* pb, Inventory* inv, TaskRunner* runner, EventSink* sink, ExecutorOptions opts)
      : pb_(pb), inv_(inv), runner_(runner), sink_(sink), opts_(std::move(opts)) {
    clock_ = opts_.clock != nullptr ? opts_.clock : RealClock();
    if (opts_.forks < 1) opts_.forks = 1;
  }

  absl::StatusOr<int> Run();
  json Snapshot(const std::string& host) const {
    std::lock_guard<std::mutex> l(mu_);
    auto it = hosts_.find(host);
    if (it == hosts_.end()) return json::object();
    json v = it->second.include_vars;
    Merge(&v, it->second.host_facts);
    return v;
  }

 private:
  struct HostState {
    // Inventory::HostVars, merged once per run: the inventory does not change while it runs.
    std::shared_ptr<const json> inventory_vars;
    json facts = json::object();
    json include_vars = json::object();
    json host_facts = json::object();  // set_fact and registered variables
    bool failed = false;
    bool unreachable = false;
    bool ended = false;      // meta: end_host / end_play
    bool processed = false;  // has a result: only those appear in the recap, as in Ansible
    std::shared_ptr<const json> vars_files;  // this play's per-host (templated) vars_files
    HostStats stats;
    std::set<std::string> notified;
  };

  // Where a task sits: the chain of enclosing blocks' keywords and the role it came from.
  struct Scope {
    const Role* role = nullptr;  // into pb_->roles, whose capacity is reserved up front
    const json* role_params = nullptr;
    std::shared_ptr<const json> include_params;         // include_tasks/include_role vars and item
    std::shared_ptr<const std::set<std::string>> only;  // hosts an include runs for
    std::vector<const std::map<std::string, Keyword>*> chain;  // outermost first
    bool has_rescue = false;
    bool is_handler = false;
    std::set<std::string> tags;  // inherited
  };

  struct Outcome {
    json result = json::object();
    std::string status;  // ok changed failed skipped unreachable
    bool ignored = false;
  };

  // Play-level state.
  const Play* play_ = nullptr;
  json vars_files_ = json::object();
  std::vector<std::string> play_hosts_;
  std::vector<std::string> batch_;  // the `serial` batch running now
  // strategy: free runs each host of the batch on a thread of its own, through the whole play:
  // on such a thread the "batch" is that one host.
  static thread_local const std::vector<std::string>* t_free_batch_;
  const std::vector<std::string>& Batch() const {
    return t_free_batch_ != nullptr ? *t_free_batch_ : batch_;
  }
  // throttle under strategy free: hosts inside each throttled task right now.
  std::mutex throttle_mu_;
  std::condition_variable throttle_cv_;
  std::map<const Task*, int> throttle_in_;
  std::mutex load_mu_;  // include_tasks/include_role load into the playbook one at a time
  void RunPlayBody(const Play& play, const Scope& scope);
  std::atomic<bool> end_play_{false};
  std::atomic<bool> aborted_{false};  // the gate said stop
  double max_fail_pct_ = -1;          // the play's max_fail_percentage (-1: none)
  // Ansible's linear strategy checks max_fail_percentage after every task: past it, the rest of
  // the batch stops (and the play ends after the batch).
  void CheckMaxFailPercentage(const Scope& scope) {
    if (max_fail_pct_ < 0 || scope.has_rescue || t_free_batch_ != nullptr) return;
    std::lock_guard<std::mutex> l(mu_);
    if (batch_.empty()) return;
    int failed = 0;
    for (const auto& h : batch_) failed += hosts_[h].failed || hosts_[h].unreachable ? 1 : 0;
    if (100.0 * failed / batch_.size() > max_fail_pct_) end_batch_ = true;
  }
  bool PassGate() {
    if (aborted_) return false;
    if (opts_.gate && !opts_.gate()) aborted_ = true;
    return !aborted_;
  }
  std::atomic<bool> end_batch_{
      false};  // meta: end_batch: the rest of this `serial` batch is skipped
  // Keyword maps and task lists made at run time (include_tasks), kept for stable pointers.
  std::deque<std::map<std::string, Keyword>> owned_keywords_;
  std::deque<std::vector<Task>> owned_tasks_;

  Playbook* pb_;
  Inventory* inv_;
  TaskRunner* runner_;
  EventSink* sink_;
  ExecutorOptions opts_;
  Clock* clock_;
  json groups_ = json::object();
  HostUniverse universe_;

  mutable std::mutex mu_;  // guards hosts_ and sink_ calls
  std::map<std::string, HostState> hosts_;

  absl::Status RunPlay(const Play& play);
  void RunTasks(const std::vector<Task>& tasks, const Scope& scope);
  void RunBlock(const Task& block, const Scope& scope);
  void RunTaskOnHosts(const Task& task, const Scope& scope, std::vector<std::string> hosts);
  void RunHandlers();
  Outcome RunTaskOnHost(const Task& task, const Scope& scope, const std::string& host);
  absl::StatusOr<json> ExecuteWithRetries(const Task& task, const Scope& scope,
                                          const std::string& host, json* vars);
  absl::StatusOr<json> ExecuteOnce(const Task& task, const Scope& scope, const std::string& host,
                                   const json& vars);
  absl::Status StageControllerFiles(const Task& task, const Scope& scope, const json& vars,
                                    std::string* module, json* args);
  absl::StatusOr<json> RunAgentModule(const Task& task, const Scope& scope, const std::string& host,
                                      const json& vars);
  absl::StatusOr<json> RunAsyncStatus(const json& args);
  absl::Status CheckHealthGate(const Play& play, const Keyword& gate, int batch,
                               const tmpl::Context& ctx);
  absl::StatusOr<json> LoopItems(const Task& task, const json& vars);

  // The batch's hosts still running (within `scope.only` for an include).
  std::vector<std::string> ActiveHosts(const Scope* scope = nullptr) {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<std::string> out;
    if (end_play_ || end_batch_ || aborted_) return out;
    for (const auto& h : Batch()) {
      const HostState& s = hosts_[h];
      if (s.failed || s.unreachable || s.ended) continue;
      if (scope != nullptr && scope->only != nullptr && scope->only->count(h) == 0) continue;
      out.push_back(h);
    }
    return out;
  }
  std::vector<std::string> PlayHostsActive() {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<std::string> out;
    for (const auto& h : play_hosts_) {
      const HostState& s = hosts_[h];
      if (!s.failed && !s.unreachable) out.push_back(h);
    }
    return out;
  }
  void RunInclude(const Task& task, const Scope& scope);
  absl::Status RunBatch(const Play& play);

  json ComposeVars(const std::string& host, const Scope& scope, const Task* task);
  json HostvarsJson();
  tmpl::Context MakeContext(const json* vars);
  const Keyword* Innermost(const Scope& scope, const Task* task, const std::string& kw) const {
    if (task != nullptr && task->Get(kw) != nullptr) return task->Get(kw);
    for (auto it = scope.chain.rbegin(); it != scope.chain.rend(); ++it) {
      auto f = (*it)->find(kw);
      if (f != (*it)->end()) return &f->second;
    }
    return nullptr;
  }
  absl::StatusOr<bool> EvalWhen(const json& when, const json& vars);
  absl::StatusOr<bool> KeywordBool(const Keyword* kw, const json& vars, bool dflt);
  bool TagsSelected(const std::set<std::string>& tags) const;
  std::string TaskName(const Task& task);
  void Emit(const std::string& task_name, const std::string& host, const Outcome& o, bool item,
            bool no_log);
  void Count(HostState* s, const Outcome& o, bool has_rescue);
  // vars_files entries naming host variables, for this play.
  std::vector<const VarsFileRef*> deferred_vars_files_;
  // Those vars_files for one host (the first file found of each entry), loaded once per play.
  std::shared_ptr<const json> HostVarsFiles(const std::string& host, const json& vars_so_far) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (hosts_[host].vars_files) return hosts_[host].vars_files;
    }
    json ctx_vars = vars_so_far;
    Merge(&ctx_vars, opts_.extra_vars);
    ctx_vars["inventory_hostname"] = host;
    ctx_vars["inventory_hostname_short"] = host.substr(0, host.find('.'));
    ctx_vars["group_names"] = inv_->GroupNamesOf(host);
    tmpl::Context ctx = MakeContext(&ctx_vars);
    json out = json::object();
    for (const VarsFileRef* ref : deferred_vars_files_) {
      json entries = ref->entry.is_array() ? ref->entry : json::array({ref->entry});
      for (const auto& entry : entries) {
        auto name = tmpl::RenderValue(JsonToText(entry), ctx);
        if (!name.ok()) continue;
        std::string path = JsonToText(*name);
        if (!path.empty() && path[0] != '/') path = play_->base_dir + "/" + path;
        auto vars = LoadVarsFile(path);
        if (vars.ok()) {
          Merge(&out, *vars);
          break;
        }
      }
    }
    auto shared = std::make_shared<const json>(std::move(out));
    std::lock_guard<std::mutex> l(mu_);
    hosts_[host].vars_files = shared;
    return shared;
  }
  // The host a task's facts go to under `delegate_facts: true` (its rendered delegate_to), or
  // "" when they stay with the host that ran it.
  std::string DelegatedFactsHost(const Task& task, const Scope& scope, const json& vars) {
    const Keyword* df = Innermost(scope, &task, "delegate_facts");
    const Keyword* d = Innermost(scope, &task, "delegate_to");
    if (df == nullptr || d == nullptr || !Truthy(df->value)) return "";
    tmpl::Context ctx = MakeContext(&vars);
    auto target = tmpl::RenderDeep(d->value, ctx);
    return target.ok() ? JsonToText(*target) : "";
  }
  // A meta task whose `when` was false: Ansible reports it skipped (and counts nothing).
  void SkippedMeta(const std::string& task_name, const std::string& host, const std::string& what,
                   const std::string& reason_tail) {
    Outcome o;
    o.status = "skipped";
    o.result =
        json{{"msg",
              what == "end_host" ? "end_host conditional evaluated to false" + reason_tail : what},
             {"skipped", true},
             {"skip_reason", what + " conditional evaluated to False" + reason_tail}};
    std::lock_guard<std::mutex> l(mu_);
    Emit(task_name, host, o, false, false);
  }
};

bool Executor::Impl::TagsSelected(const std::set<std::string>& tags) const {
  auto has = [&](const std::string& t) { return tags.count(t) > 0; };
  for (const auto& t : opts_.skip_tags) {
    if (has(t) || (t == "all" && !has("always"))) return false;
    if (t == "tagged" && !tags.empty()) return false;
    if (t == "untagged" && tags.empty()) return false;
  }
  if (has("always"))
    return std::find(opts_.skip_tags.begin(), opts_.skip_tags.end(), "always") ==
           opts_.skip_tags.end();
  if (opts_.tags.empty()) return !has("never");
  for (const auto& t : opts_.tags) {
    if (t == "all" && !has("never")) return true;
    if (t == "tagged" && !tags.empty()) return true;
    if (t == "untagged" && tags.empty()) return true;
    if (has(t)) return true;
  }
  return false;
}

std::string Executor::Impl::TaskName(const Task& task) {
  std::string name = task.name.empty() ? task.action_as_written : task.name;
  // Ansible templates task names with play-level variables only, keeping the text as written
  // when that fails (a name using `item` or a registered variable).
  if (tmpl::IsPossiblyTemplate(name)) {
    json vars = play_->vars;
    Merge(&vars, vars_files_);
    Merge(&vars, opts_.extra_vars);
    tmpl::Context ctx = MakeContext(&vars);
    ctx.resolve = nullptr;
    auto rendered = tmpl::RenderValue(name, ctx);
    if (rendered.ok()) name = JsonToText(*rendered);
  }
  if (task.role_index >= 0 && task.role_index < static_cast<int>(pb_->roles.size())) {
    return absl::StrCat(pb_->roles[task.role_index].name, " : ", name);
  }
  return name;
}

tmpl::Context Executor::Impl::MakeContext(const json* vars) {
  tmpl::Context ctx;
  ctx.vars = vars;
  ctx.template_variable_values = true;
  ctx.resolve = [this](std::string_view name) -> std::optional<json> {
    if (name == "hostvars") return HostvarsJson();
    return std::nullopt;
  };
  std::string base = play_ != nullptr ? play_->base_dir : "";
  ctx.read_file = [base](std::string_view path) -> absl::StatusOr<std::string> {
    std::string p(path.data(), path.size());
    if (!p.empty() && p[0] != '/' && !base.empty()) p = base + "/" + p;
    std::ifstream in(p);
    if (!in) return absl::NotFoundError(absl::StrCat("could not read ", p));
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  return ctx;
}

json Executor::Impl::ComposeVars(const std::string& host, const Scope& scope, const Task* task) {
  json v = json::object();
  // Role defaults are the lowest layer; every role of the play is visible (Ansible's
  // DEFAULT_PRIVATE_ROLE_VARS=False), the task's own role last.
  for (const auto& ref : play_->roles) {
    if (ref.role_index >= 0) Merge(&v, pb_->roles[ref.role_index].defaults);
  }
  if (scope.role != nullptr) Merge(&v, scope.role->defaults);
  std::shared_ptr<const json> inv_vars;
  json facts;
  {
    std::lock_guard<std::mutex> l(mu_);
    inv_vars = hosts_[host].inventory_vars;
    facts = hosts_[host].facts;
  }
  if (inv_vars == nullptr) {
    auto loaded = inv_->HostVars(host);
    inv_vars = std::make_shared<const json>(loaded.ok() ? *loaded : json::object());
    std::lock_guard<std::mutex> l(mu_);
    hosts_[host].inventory_vars = inv_vars;
  }
  Merge(&v, *inv_vars);
  if (facts.is_object() && !facts.empty()) {
    v["ansible_facts"] = facts;
    for (const auto& [k, f] : facts.items()) {
      v[k.rfind("ansible_", 0) == 0 ? k : "ansible_" + k] = f;
    }
  }
  Merge(&v, play_->vars);
  Merge(&v, vars_files_);
  if (!deferred_vars_files_.empty()) Merge(&v, *HostVarsFiles(host, v));
  for (const auto& ref : play_->roles) {
    if (ref.role_index >= 0) Merge(&v, pb_->roles[ref.role_index].vars);
  }
  if (scope.role != nullptr) Merge(&v, scope.role->vars);
  for (const auto* kws : scope.chain) {
    auto it = kws->find("vars");
    if (it != kws->end()) Merge(&v, it->second.value);
  }
  if (task != nullptr && task->Get("vars") != nullptr) Merge(&v, task->Get("vars")->value);
  {
    std::lock_guard<std::mutex> l(mu_);
    Merge(&v, hosts_[host].include_vars);
    Merge(&v, hosts_[host].host_facts);
  }
  if (scope.role_params != nullptr) Merge(&v, *scope.role_params);
  if (scope.include_params != nullptr) Merge(&v, *scope.include_params);
  Merge(&v, opts_.extra_vars);
  // Magic variables: not overridable.
  v["inventory_hostname"] = host;
  v["inventory_hostname_short"] = host.substr(0, host.find('.'));
  v["group_names"] = inv_->GroupNamesOf(host);
  v["groups"] = groups_;
  v["ansible_check_mode"] = opts_.check_mode;
  v["ansible_diff_mode"] = opts_.diff;
  v["ansible_verbosity"] = opts_.verbosity;
  v["ansible_play_hosts_all"] = play_hosts_;
  v["ansible_play_hosts"] = PlayHostsActive();
  {
    // The whole batch, also under strategy free (where a thread's Batch() is its one host).
    std::lock_guard<std::mutex> l(mu_);
    json batch = json::array();
    for (const auto& h : batch_) {
      const HostState& s = hosts_[h];
      if (!s.failed && !s.unreachable && !s.ended) batch.push_back(h);
    }
    v["ansible_play_batch"] = batch;
  }
  v["play_hosts"] = v["ansible_play_batch"];
  v["ansible_play_name"] = PlayName(*play_);
  v["playbook_dir"] = play_->base_dir;
  v["omit"] = kOmit;
  if (scope.role != nullptr) {
    v["role_name"] = scope.role->name;
    v["role_path"] = scope.role->path;
  }
  return v;
}

json Executor::Impl::HostvarsJson() {
  json out = json::object();
  Scope play_scope;
  for (const auto& h : inv_->Hosts()) out[h] = ComposeVars(h, play_scope, nullptr);
  return out;
}

absl::StatusOr<bool> Executor::Impl::EvalWhen(const json& when, const json& vars) {
  json conds = when.is_array() ? when : json::array({when});
  tmpl::Context ctx = MakeContext(&vars);
  for (const auto& c : conds) {
    bool ok = true;
    if (c.is_boolean()) {
      ok = c.get<bool>();
    } else if (c.is_null()) {
      ok = true;
    } else {
      auto r = tmpl::EvalCondition(JsonToText(c), ctx);
      if (!r.ok()) {
        return absl::Status(r.status().code(),
                            absl::StrCat("The conditional check '", JsonToText(c),
                                         "' failed. The error was: ", r.status().message()));
      }
      ok = *r;
    }
    if (!ok) return false;
  }
  return true;
}

absl::StatusOr<bool> Executor::Impl::KeywordBool(const Keyword* kw, const json& vars, bool dflt) {
  if (kw == nullptr) return dflt;
  if (kw->value.is_string()) {
    tmpl::Context ctx = MakeContext(&vars);
    ASSIGN_OR_RETURN(json v, tmpl::RenderValue(kw->value.get<std::string>(), ctx));
    return Truthy(v);
  }
  return Truthy(kw->value);
}

void Executor::Impl::Count(HostState* s, const Outcome& o, bool has_rescue) {
  s->processed = true;
  if (o.status == "skipped") {
    s->stats.skipped++;
  } else if (o.status == "unreachable") {
    s->stats.unreachable++;
  } else if (o.status == "failed") {
    if (o.ignored) {
      s->stats.ok++;
      s->stats.ignored++;
      if (IsChanged(o.result)) s->stats.changed++;
    } else if (has_rescue) {
      s->stats.rescued++;
    } else {
      s->stats.failed++;
    }
  } else {
    s->stats.ok++;
    if (o.status == "changed") s->stats.changed++;
  }
}

void Executor::Impl::Emit(const std::string& task_name, const std::string& host, const Outcome& o,
                          bool item, bool no_log) {
  ResultEvent e;
  e.play = PlayName(*play_);
  e.task = task_name;
  e.host = host;
  e.status = o.status;
  e.ignored = o.ignored;
  e.is_item = item;
  if (no_log) {
    e.result = json{{"censored", kNoLogMsg}, {"changed", IsChanged(o.result)}};
    if (IsFailed(o.result)) e.result["failed"] = true;
    if (IsSkipped(o.result)) e.result["skipped"] = true;
  } else {
    e.result = o.result;
  }
  sink_->OnResult(e);
}

absl::StatusOr<int> Executor::Impl::Run() {
  // Scope keeps Role pointers while include_role may append roles: never reallocate.
  pb_->roles.reserve(pb_->roles.size() + kMaxRuntimeRoles);
  for (const auto& g : inv_->GroupNames()) groups_[g] = inv_->GroupHosts(g);
  groups_["all"] = inv_->Hosts();
  Universe u = inv_->GetUniverse();
  universe_.hosts = u.hosts;
  universe_.groups = u.groups;
  universe_.implicit_hosts = u.implicit_hosts;
  std::vector<std::string> order;
  for (const Play& play : pb_->plays) {
    if (aborted_) break;
    RETURN_IF_ERROR(RunPlay(play));
    for (const auto& h : play_hosts_) {
      if (std::find(order.begin(), order.end(), h) == order.end()) order.push_back(h);
    }
  }
  RecapEvent recap;
  bool any_failed = false, any_unreachable = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& h : order) {
      if (!hosts_[h].processed) continue;
      recap.hosts[h] = hosts_[h].stats;
      any_failed |= hosts_[h].stats.failed > 0;
      any_unreachable |= hosts_[h].stats.unreachable > 0;
    }
  }
  recap.rc = aborted_          ? kRcAborted
             : any_failed      ? kRcFailedHosts
             : any_unreachable ? kRcUnreachableHosts
                               : kRcOk;
  sink_->OnRecap(recap);
  return recap.rc;
}

absl::Status Executor::Impl::RunPlay(const Play& play) {
  play_ = &play;
  end_play_ = false;
  vars_files_ = json::object();
  std::string pattern = play.hosts.value.is_array() ? "" : JsonToText(play.hosts.value);
  if (play.hosts.value.is_array()) {
    for (const auto& h : play.hosts.value) {
      if (!pattern.empty()) pattern += ":";
      pattern += JsonToText(h);
    }
  }
  json base_vars = play.vars;
  Merge(&base_vars, opts_.extra_vars);
  tmpl::Context ctx = MakeContext(&base_vars);
  ASSIGN_OR_RETURN(json rendered_pattern, tmpl::RenderValue(pattern, ctx));
  ASSIGN_OR_RETURN(play_hosts_, MatchPattern(JsonToText(rendered_pattern), universe_));
  if (!opts_.limit.empty()) {
    ASSIGN_OR_RETURN(auto limited, MatchPattern(opts_.limit, universe_));
    std::vector<std::string> keep;
    for (const auto& h : play_hosts_) {
      if (std::find(limited.begin(), limited.end(), h) != limited.end()) keep.push_back(h);
    }
    play_hosts_ = keep;
  }
  if (const Keyword* order = play.Get("order")) {
    std::string o = JsonToText(order->value);
    if (o == "sorted") {
      std::sort(play_hosts_.begin(), play_hosts_.end());
    } else if (o == "reverse_sorted") {
      std::sort(play_hosts_.rbegin(), play_hosts_.rend());
    } else if (o == "reverse_inventory") {
      std::reverse(play_hosts_.begin(), play_hosts_.end());
    } else if (o == "shuffle") {
      std::shuffle(play_hosts_.begin(), play_hosts_.end(), std::mt19937(std::random_device()()));
    }
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& h : play_hosts_) {
      HostState& s = hosts_[h];
      s.ended = false;
      s.notified.clear();
      s.vars_files.reset();
    }
  }
  deferred_vars_files_.clear();
  for (const auto& ref : play.vars_files) {
    json entries = ref.entry.is_array() ? ref.entry : json::array({ref.entry});
    bool loaded = false;
    bool per_host = false;
    for (const auto& entry : entries) {
      auto rendered = tmpl::RenderValue(JsonToText(entry), ctx);
      if (!rendered.ok() && tmpl::IsUndefinedVariableError(rendered.status())) {
        // Names host variables ("vars/{{ inventory_hostname }}.yml"): loaded per host.
        per_host = true;
        break;
      }
      ASSIGN_OR_RETURN(json name, std::move(rendered));
      std::string path = JsonToText(name);
      if (!path.empty() && path[0] != '/') path = play.base_dir + "/" + path;
      auto vars = LoadVarsFile(path);
      if (vars.ok()) {
        Merge(&vars_files_, *vars);
        loaded = true;
        break;
      }
    }
    if (per_host) {
      deferred_vars_files_.push_back(&ref);
      continue;
    }
    if (!loaded) {
      return ErrorAt(ref.pos, absl::StrCat("vars file ", JsonToText(ref.entry), " was not found"));
    }
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    sink_->OnPlayStart(PlayStartEvent{PlayName(play), play_hosts_});
  }
  // `serial`: the play runs start to end (handlers included) on one batch after another.
  std::vector<int> sizes;
  if (const Keyword* serial = play.Get("serial")) {
    json values = serial->value.is_array() ? serial->value : json::array({serial->value});
    for (const auto& v : values) {
      ASSIGN_OR_RETURN(json r, v.is_string() ? tmpl::RenderValue(v.get<std::string>(), ctx)
                                             : absl::StatusOr<json>(v));
      std::string text = JsonToText(r);
      int n = 0;
      if (!text.empty() && text.back() == '%') {
        n = static_cast<int>(std::atof(text.c_str()) / 100.0 * play_hosts_.size());
        n = std::max(n, 1);
      } else {
        n = std::atoi(text.c_str());
      }
      sizes.push_back(n <= 0 ? static_cast<int>(play_hosts_.size()) : n);
    }
  }
  max_fail_pct_ = -1;
  if (const Keyword* m = play.Get("max_fail_percentage")) {
    max_fail_pct_ = std::atof(JsonToText(m->value).c_str());
  }
  const double max_fail_pct = max_fail_pct_;
  size_t pos = 0, batch_no = 0;
  while (pos < play_hosts_.size() || (pos == 0 && play_hosts_.empty())) {
    size_t n = play_hosts_.size();
    if (!sizes.empty()) n = sizes[std::min(batch_no, sizes.size() - 1)];
    n = std::min(n, play_hosts_.size() - pos);
    batch_.assign(play_hosts_.begin() + pos, play_hosts_.begin() + pos + n);
    pos += n;
    ++batch_no;
    end_batch_ = false;
    RETURN_IF_ERROR(RunBatch(play));
    end_batch_ = false;
    if (const Keyword* gate = play.Get("tachyon_gate"); gate != nullptr && !aborted_) {
      RETURN_IF_ERROR(CheckHealthGate(play, *gate, static_cast<int>(batch_no), ctx));
    }
    if (play_hosts_.empty() || end_play_ || aborted_) break;
    int failed = 0;
    {
      std::lock_guard<std::mutex> l(mu_);
      for (const auto& h : batch_) failed += hosts_[h].failed || hosts_[h].unreachable ? 1 : 0;
    }
    // Ansible stops the play when a whole batch failed, or more than max_fail_percentage did.
    if (!batch_.empty() && failed == static_cast<int>(batch_.size())) break;
    if (max_fail_pct >= 0 && 100.0 * failed / batch_.size() > max_fail_pct) break;
  }
  return absl::OkStatus();
}

absl::Status Executor::Impl::RunBatch(const Play& play) {
  Scope scope;
  scope.chain.push_back(&play.keywords);
  scope.tags = TagSet(play.Get("tags"));
  // gather_facts (default on) is Ansible's implicit first task: facts come from the agents'
  // hello through opts_.facts; it counts as an `ok` (or `unreachable`) per host.
  const Keyword* gather = play.Get("gather_facts");
  if (gather == nullptr || Truthy(gather->value)) {
    std::vector<std::string> hosts = ActiveHosts(&scope);
    if (!hosts.empty()) {
      std::lock_guard<std::mutex> l(mu_);
      sink_->OnTaskStart(TaskStartEvent{PlayName(play), "Gathering Facts", false, "gather_facts"});
    }
    for (const auto& h : hosts) {
      Outcome o;
      json facts = opts_.facts ? opts_.facts(h) : json::object();
      if (!facts.is_object()) facts = json::object();
      if (!runner_->IsReachable(h)) {
        o.status = "unreachable";
        o.result = json{
            {"unreachable", true},
            {"changed", false},
            {"msg", absl::StrCat("Failed to connect to the host: no agent connected for ", h)}};
      } else {
        o.status = "ok";
        // setup's shape: every fact under its "ansible_" name.
        json shown = json::object();
        for (const auto& [k, v] : facts.items()) {
          shown[k.rfind("ansible_", 0) == 0 ? k : "ansible_" + k] = v;
        }
        o.result = json{{"ansible_facts", shown}, {"changed", false}, {"failed", false}};
      }
      std::lock_guard<std::mutex> l(mu_);
      HostState& st = hosts_[h];
      if (o.status == "ok") {
        st.facts = facts;
      } else {
        st.unreachable = true;
      }
      Count(&st, o, false);
      Emit("Gathering Facts", h, o, false, false);
    }
  }
  const Keyword* strategy = play.Get("strategy");
  std::string strategy_name = strategy != nullptr ? JsonToText(strategy->value) : "linear";
  if (strategy_name == "free") {
    // Each host runs ahead on its own: up to `forks` hosts at once, each through the whole
    // play (its handlers included).
    std::vector<std::string> hosts = ActiveHosts(&scope);
    std::atomic<size_t> next{0};
    auto worker = [&]() {
      for (size_t i = next++; i < hosts.size(); i = next++) {
        std::vector<std::string> mine = {hosts[i]};
        t_free_batch_ = &mine;
        RunPlayBody(play, scope);
        t_free_batch_ = nullptr;
      }
    };
    size_t n = std::min<size_t>(static_cast<size_t>(std::max(opts_.forks, 1)), hosts.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < n; ++i) threads.emplace_back(worker);
    for (auto& t : threads) t.join();
    return absl::OkStatus();
  }
  if (strategy_name != "linear") {
    std::lock_guard<std::mutex> l(mu_);
    sink_->OnWarning(absl::StrCat("strategy ", strategy_name,
                                  " is not supported; using linear (supported: linear, free)"));
  }
  RunPlayBody(play, scope);
  return absl::OkStatus();
}

void Executor::Impl::RunPlayBody(const Play& play, const Scope& scope) {
  RunTasks(play.pre_tasks, scope);
  RunHandlers();
  for (const auto& ref : play.roles) {
    if (ref.role_index < 0) continue;
    Scope rs = scope;
    rs.role = &pb_->roles[ref.role_index];
    rs.role_params = &ref.params;
    rs.chain.push_back(&ref.keywords);
    for (const auto& t : TagSet(ref.keywords.count("tags") ? &ref.keywords.at("tags") : nullptr)) {
      rs.tags.insert(t);
    }
    RunTasks(rs.role->tasks, rs);
  }
  RunTasks(play.tasks, scope);
  RunHandlers();
  RunTasks(play.post_tasks, scope);
  RunHandlers();
}

thread_local const std::vector<std::string>* Executor::Impl::t_free_batch_ = nullptr;

void Executor::Impl::RunTasks(const std::vector<Task>& tasks, const Scope& scope) {
  for (const Task& task : tasks) {
    if (ActiveHosts(&scope).empty()) return;
    if (task.kind == TaskKind::kBlock) {
      RunBlock(task, scope);
      continue;
    }
    std::set<std::string> tags = scope.tags;
    for (const auto& t : TagSet(task.Get("tags"))) tags.insert(t);
    if (task.action != "meta" && !TagsSelected(tags)) continue;
    if (task.kind == TaskKind::kIncludeTasks || task.kind == TaskKind::kIncludeRole) {
      RunInclude(task, scope);
      continue;
    }
    RunTaskOnHosts(task, scope, ActiveHosts(&scope));
    CheckMaxFailPercentage(scope);
  }
}

void Executor::Impl::RunBlock(const Task& block, const Scope& scope) {
  Scope inner = scope;
  inner.chain.push_back(&block.keywords);
  for (const auto& t : TagSet(block.Get("tags"))) inner.tags.insert(t);
  std::vector<std::string> hosts = ActiveHosts(&scope);
  Scope body = inner;
  body.has_rescue = !block.rescue.empty() || scope.has_rescue;
  RunTasks(block.block, body);
  std::vector<std::string> failed;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& h : hosts) {
      if (hosts_[h].failed && !hosts_[h].unreachable) failed.push_back(h);
    }
  }
  if (!block.rescue.empty() && !failed.empty()) {
    {
      std::lock_guard<std::mutex> l(mu_);
      for (const auto& h : failed) hosts_[h].failed = false;
    }
    // Only the hosts that failed in the block run its rescue.
    Scope rescue = inner;
    rescue.only = std::make_shared<const std::set<std::string>>(failed.begin(), failed.end());
    RunTasks(block.rescue, rescue);
  }
  // `always` runs for every host that entered the block, failed or not; hosts failed before
  // it stay failed afterwards.
  std::vector<std::string> still_failed;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& h : hosts) {
      if (hosts_[h].failed) {
        still_failed.push_back(h);
        hosts_[h].failed = false;
      }
    }
  }
  if (!block.always.empty()) {
    Scope always = inner;
    always.only = std::make_shared<const std::set<std::string>>(hosts.begin(), hosts.end());
    RunTasks(block.always, always);
  }
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& h : still_failed) hosts_[h].failed = true;
}

void Executor::Impl::RunTaskOnHosts(const Task& task, const Scope& scope,
                                    std::vector<std::string> hosts) {
  if (!PassGate()) return;
  const std::string name = TaskName(task);
  if (task.action == "meta") {
    std::string what =
        JsonToText(task.raw_args ? json(*task.raw_args) : task.args.value("_raw_params", json("")));
    if (what == "flush_handlers") {
      RunHandlers();
    } else if (what == "clear_host_errors") {
      std::lock_guard<std::mutex> l(mu_);
      for (const auto& h : Batch()) hosts_[h].failed = false;
    } else if (what == "end_play" || what == "end_batch") {
      // Ansible's linear strategy runs these once, for the first host: its `when` decides.
      bool end = hosts.empty();
      if (!hosts.empty()) {
        json vars = ComposeVars(hosts[0], scope, &task);
        const Keyword* when = Innermost(scope, &task, "when");
        auto ok = when ? EvalWhen(when->value, vars) : absl::StatusOr<bool>(true);
        end = ok.ok() && *ok;
        if (ok.ok() && !*ok) {
          SkippedMeta(name, hosts[0], what,
                      what == "end_play" ? ", continuing play" : ", continuing current batch");
        }
      }
      std::lock_guard<std::mutex> l(mu_);
      if (end && what == "end_play") end_play_ = true;
      if (end && what == "end_batch") end_batch_ = true;
    } else if (what == "end_host" || what == "clear_facts") {
      for (const auto& h : hosts) {
        json vars = ComposeVars(h, scope, &task);
        const Keyword* when = Innermost(scope, &task, "when");
        auto ok = when ? EvalWhen(when->value, vars) : absl::StatusOr<bool>(true);
        if (ok.ok() && !*ok && what == "end_host") {
          SkippedMeta(name, h, what, ", continuing execution for " + h);
        }
        if (!ok.ok() || !*ok) continue;
        std::lock_guard<std::mutex> l(mu_);
        if (what == "end_host") {
          hosts_[h].ended = true;
        } else {
          hosts_[h].facts = json::object();
        }
      }
    }
    return;
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    sink_->OnTaskStart(TaskStartEvent{PlayName(*play_), name, scope.is_handler, task.action});
  }
  // run_once: the first host runs it; every host of the batch gets the result.
  bool run_once = false;
  if (!hosts.empty()) {
    json vars = ComposeVars(hosts[0], scope, &task);
    auto ro = KeywordBool(Innermost(scope, &task, "run_once"), vars, false);
    run_once = ro.ok() && *ro;
  }
  // pause is one of Ansible's BYPASS_HOST_LOOP actions: it runs once for the whole batch.
  if (task.action == "pause") run_once = true;
  std::vector<std::string> targets = hosts;
  if (run_once && !hosts.empty()) targets.resize(1);
  std::vector<Outcome> outcomes(targets.size());
  std::atomic<size_t> next{0};
  int throttle = 0;
  if (const Keyword* t = Innermost(scope, &task, "throttle")) {
    throttle = std::atoi(JsonToText(t->value).c_str());
  }
  // Under strategy free the hosts are on threads of their own: throttle counts them in.
  const bool free_throttle = t_free_batch_ != nullptr && throttle > 0;
  auto worker = [&]() {
    for (size_t i = next++; i < targets.size(); i = next++) {
      if (!PassGate()) return;
      if (free_throttle) {
        std::unique_lock<std::mutex> l(throttle_mu_);
        throttle_cv_.wait(l, [&] { return throttle_in_[&task] < throttle; });
        ++throttle_in_[&task];
      }
      outcomes[i] = RunTaskOnHost(task, scope, targets[i]);
      if (free_throttle) {
        std::lock_guard<std::mutex> l(throttle_mu_);
        --throttle_in_[&task];
        throttle_cv_.notify_all();
      }
    }
  };
  size_t n = std::min<size_t>(static_cast<size_t>(opts_.forks), targets.size());
  if (throttle > 0) n = std::min<size_t>(n, static_cast<size_t>(throttle));
  if (n <= 1) {
    worker();
  } else {
    std::vector<std::thread> threads;
    for (size_t i = 0; i < n; ++i) threads.emplace_back(worker);
    for (auto& t : threads) t.join();
  }
  if (run_once && !outcomes.empty() && !aborted_) {
    const Keyword* df = Innermost(scope, &task, "delegate_facts");
    const bool delegates_facts =
        df != nullptr && Truthy(df->value) && Innermost(scope, &task, "delegate_to") != nullptr;
    std::lock_guard<std::mutex> l(mu_);
    const Keyword* reg = task.Get("register");
    for (size_t i = 1; i < hosts.size(); ++i) {
      HostState& s = hosts_[hosts[i]];
      if (reg != nullptr) s.host_facts[JsonToText(reg->value)] = outcomes[0].result;
      if (task.action == "set_fact" && outcomes[0].result.contains("ansible_facts") &&
          !delegates_facts) {
        Merge(&s.host_facts, outcomes[0].result["ansible_facts"]);
      }
    }
  }
}

Executor::Impl::Outcome Executor::Impl::RunTaskOnHost(const Task& task, const Scope& scope,
                                                      const std::string& host) {
  const std::string name = TaskName(task);
  json vars = ComposeVars(host, scope, &task);
  Outcome out;
  auto finish_error = [&](const absl::Status& st) { out.result = ErrorResult(st); };
  // Enclosing blocks' (and role entries') `when`s are and-ed with the task's, as Ansible does.
  json when_conds = json::array();
  for (const auto* kws : scope.chain) {
    auto it = kws->find("when");
    if (it != kws->end()) {
      if (it->second.value.is_array()) {
        for (const auto& c : it->second.value) when_conds.push_back(c);
      } else {
        when_conds.push_back(it->second.value);
      }
    }
  }
  if (task.Get("when") != nullptr) {
    const json& w = task.Get("when")->value;
    if (w.is_array()) {
      for (const auto& c : w) when_conds.push_back(c);
    } else {
      when_conds.push_back(w);
    }
  }
  bool no_log = false;
  {
    auto nl = KeywordBool(Innermost(scope, &task, "no_log"), vars, false);
    no_log = nl.ok() && *nl;
  }
  bool ignore_errors = false;
  {
    auto ie = KeywordBool(Innermost(scope, &task, "ignore_errors"), vars, false);
    ignore_errors = ie.ok() && *ie;
  }
  const Keyword* reg = task.Get("register");
  std::string register_as = reg != nullptr ? JsonToText(reg->value) : "";
  const bool has_loop = task.Has("loop") ||
                        std::any_of(task.keywords.begin(), task.keywords.end(),
                                    [](const auto& kv) { return kv.first.rfind("with_", 0) == 0; });
  auto skipped_result = [] {
    return json{
        {"changed", false}, {"skip_reason", "Conditional result was False"}, {"skipped", true}};
  };
  if (!has_loop) {
    auto ok = EvalWhen(when_conds, vars);
    if (!ok.ok()) {
      finish_error(ok.status());
    } else if (!*ok) {
      out.result = skipped_result();
    } else {
      auto r = ExecuteWithRetries(task, scope, host, &vars);
      if (r.ok()) {
        out.result = *r;
      } else {
        finish_error(r.status());
      }
    }
  } else {
    auto items = LoopItems(task, vars);
    if (!items.ok()) {
      finish_error(items.status());
    } else {
      std::string loop_var = "item", index_var, label;
      if (const Keyword* lc = task.Get("loop_control"); lc != nullptr && lc->value.is_object()) {
        loop_var = lc->value.value("loop_var", std::string("item"));
        index_var = lc->value.value("index_var", std::string());
        label = lc->value.contains("label") ? JsonToText(lc->value["label"]) : "";
      }
      json results = json::array();
      bool any_changed = false, any_failed = false, all_skipped = true;
      size_t index = 0;
      for (const json& item : *items) {
        json ivars = vars;
        ivars[loop_var] = item;
        ivars["ansible_loop_var"] = loop_var;
        if (!index_var.empty()) {
          ivars[index_var] = index;
          ivars["ansible_index_var"] = index_var;
        }
        if (const Keyword* lc = task.Get("loop_control");
            lc != nullptr && lc->value.is_object() &&
            Truthy(lc->value.value("extended", json(false)))) {
          const size_t len = items->size();
          json loop = {{"index", index + 1},      {"index0", index},
                       {"revindex", len - index}, {"revindex0", len - index - 1},
                       {"first", index == 0},     {"last", index + 1 == len},
                       {"length", len},           {"allitems", *items}};
          if (index > 0) loop["previtem"] = (*items)[index - 1];
          if (index + 1 < len) loop["nextitem"] = (*items)[index + 1];
          ivars["ansible_loop"] = loop;
        }
        json r;
        auto ok = EvalWhen(when_conds, ivars);
        if (!ok.ok()) {
          r = json{
              {"failed", true}, {"changed", false}, {"msg", std::string(ok.status().message())}};
        } else if (!*ok) {
          r = skipped_result();
        } else {
          auto rr = ExecuteWithRetries(task, scope, host, &ivars);
          r = rr.ok() ? *rr : ErrorResult(rr.status());
        }
        r[loop_var] = item;  // Ansible stores the item under the loop_var's name
        r["ansible_loop_var"] = loop_var;
        if (ivars.contains("ansible_loop")) r["ansible_loop"] = ivars["ansible_loop"];
        if (!index_var.empty()) {
          r[index_var] = index;
          r["ansible_index_var"] = index_var;
        }
        Outcome io;
        io.result = r;
        // CONTRACT.md: item events carry "item" whatever the loop_var (registered values don't).
        if (!io.result.contains("item")) io.result["item"] = item;
        io.status = IsSkipped(r)   ? "skipped"
                    : IsFailed(r)  ? "failed"
                    : IsChanged(r) ? "changed"
                                   : "ok";
        io.ignored = IsFailed(r) && ignore_errors;
        if (!label.empty()) {
          tmpl::Context lctx = MakeContext(&ivars);
          auto l = tmpl::RenderValue(label, lctx);
          if (l.ok()) io.result["_ansible_item_label"] = *l;
        }
        {
          std::lock_guard<std::mutex> l(mu_);
          Emit(name, host, io, true, no_log);
        }
        any_changed |= IsChanged(r);
        any_failed |= IsFailed(r);
        all_skipped &= IsSkipped(r);
        if (task.action == "set_fact" && !IsFailed(r) && r.contains("ansible_facts")) {
          std::lock_guard<std::mutex> l(mu_);
          Merge(&hosts_[host].host_facts, r["ansible_facts"]);
        }
        results.push_back(r);
        ++index;
        if (const Keyword* lc = task.Get("loop_control"); lc != nullptr && lc->value.is_object() &&
                                                          lc->value.contains("pause") &&
                                                          index < items->size()) {
          double secs = lc->value["pause"].is_number() ? lc->value["pause"].get<double>() : 0;
          clock_->SleepUntil(clock_->Now() + absl::Seconds(secs));
        }
      }
      if (items->empty()) {
        out.result = json{{"changed", false},
                          {"skipped", true},
                          {"skipped_reason", "No items in the list"},
                          {"results", results}};
      } else {
        out.result = json{{"changed", any_changed},
                          {"msg", all_skipped ? "All items skipped" : "All items completed"},
                          {"results", results},
                          {"skipped", all_skipped}};
        if (any_failed) {
          out.result["failed"] = true;
          out.result["msg"] = "One or more items failed";
        }
      }
    }
  }
  json& r = out.result;
  if (IsSkipped(r) && !has_loop) {
    out.status = "skipped";
  } else if (r.contains("unreachable") && Truthy(r["unreachable"])) {
    out.status = "unreachable";
  } else if (IsFailed(r)) {
    out.status = "failed";
    out.ignored = ignore_errors;
  } else if (IsSkipped(r)) {
    out.status = "skipped";
  } else {
    out.status = IsChanged(r) ? "changed" : "ok";
  }
  // Register, set facts, notify handlers, update host state and stats.
  const std::string delegated_facts = DelegatedFactsHost(task, scope, vars);
  {
    std::lock_guard<std::mutex> l(mu_);
    HostState& s = hosts_[host];
    if (!register_as.empty()) s.host_facts[register_as] = r;
    if (!has_loop && task.action == "set_fact" && !IsFailed(r) && r.contains("ansible_facts")) {
      // delegate_facts: the facts belong to the host the task was delegated to.
      Merge(delegated_facts.empty() ? &s.host_facts : &hosts_[delegated_facts].host_facts,
            r["ansible_facts"]);
    }
    if (!has_loop && task.action == "include_vars" && !IsFailed(r) && r.contains("ansible_facts")) {
      Merge(&s.include_vars, r["ansible_facts"]);
    }
    if (out.status == "changed" || (out.status != "failed" && IsChanged(r))) {
      if (const Keyword* notify = task.Get("notify"); notify != nullptr) {
        json names = notify->value.is_array() ? notify->value : json::array({notify->value});
        for (const auto& n : names) {
          tmpl::Context ctx = MakeContext(&vars);
          auto rn = tmpl::RenderValue(JsonToText(n), ctx);
          s.notified.insert(rn.ok() ? JsonToText(*rn) : JsonToText(n));
        }
      }
    }
    if (out.status == "unreachable") {
      const Keyword* iu = Innermost(scope, &task, "ignore_unreachable");
      if (iu == nullptr || !Truthy(iu->value)) s.unreachable = true;
    } else if (out.status == "failed" && !out.ignored) {
      s.failed = true;
      if (!scope.has_rescue) {
        const Keyword* aef = Innermost(scope, &task, "any_errors_fatal");
        if (aef != nullptr && Truthy(aef->value)) end_play_ = true;
      }
      if (scope.has_rescue) {
        json failed_task = json{{"name", task.name}, {"action", task.action}, {"args", task.args}};
        s.host_facts["ansible_failed_task"] = failed_task;
        s.host_facts["ansible_failed_result"] = r;
      }
    }
    Count(&s, out, scope.has_rescue);
    Emit(name, host, out, false, no_log);
  }
  return out;
}

absl::StatusOr<json> Executor::Impl::LoopItems(const Task& task, const json& vars) {
  tmpl::Context ctx = MakeContext(&vars);
  auto render = [&](const json& v) -> absl::StatusOr<json> {
    if (v.is_string()) return tmpl::RenderValue(v.get<std::string>(), ctx);
    return tmpl::RenderDeep(v, ctx);
  };
  if (const Keyword* loop = task.Get("loop")) {
    ASSIGN_OR_RETURN(json items, render(loop->value));
    if (!items.is_array()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Invalid data passed to 'loop', it requires a list, got this instead: ", items.dump(),
          ". Hint: If you passed a list/dict of just one element, try adding wantlist=True to "
          "your lookup invocation or use q/query instead of lookup."));
    }
    return items;
  }
  for (const auto& [kw, value] : task.keywords) {
    if (kw.rfind("with_", 0) != 0) continue;
    std::string lookup = kw.substr(5);
    ASSIGN_OR_RETURN(json v, render(value.value));
    if (lookup == "items") {
      json out = json::array();
      json in = v.is_array() ? v : json::array({v});
      for (const auto& x : in) {
        if (x.is_array()) {
          for (const auto& y : x) out.push_back(y);
        } else {
          out.push_back(x);
        }
      }
      return out;
    }
    if (lookup == "list") return v.is_array() ? v : json::array({v});
    if (lookup == "dict") {
      if (!v.is_object()) {
        return absl::InvalidArgumentError("with_dict expects a dict");
      }
      json out = json::array();
      for (const auto& [k, x] : v.items()) out.push_back(json{{"key", k}, {"value", x}});
      return out;
    }
    if (lookup == "sequence") {
      std::string spec = JsonToText(v.is_array() && !v.empty() ? v[0] : v);
      ASSIGN_OR_RETURN(json kv, ParseModuleArgs("sequence", spec));
      long start = 1, end = 0, stride = 1;
      std::string format = "%d";
      auto num = [&](const char* k, long d) {
        if (!kv.contains(k)) return d;
        return std::strtol(JsonToText(kv[k]).c_str(), nullptr, 0);
      };
      if (kv.contains("_raw_params")) {
        // "start-end/stride:format" shorthand, e.g. "1-5" or "0-10/2".
        std::string s = JsonToText(kv["_raw_params"]);
        std::string fmt;
        if (auto c = s.find(':'); c != std::string::npos) {
          fmt = s.substr(c + 1);
          s = s.substr(0, c);
        }
        if (auto sl = s.find('/'); sl != std::string::npos) {
          stride = std::strtol(s.substr(sl + 1).c_str(), nullptr, 0);
          s = s.substr(0, sl);
        }
        if (auto d = s.find('-'); d != std::string::npos) {
          start = std::strtol(s.substr(0, d).c_str(), nullptr, 0);
          end = std::strtol(s.substr(d + 1).c_str(), nullptr, 0);
        } else {
          end = std::strtol(s.c_str(), nullptr, 0);
        }
        if (!fmt.empty()) format = fmt;
      } else {
        start = num("start", 1);
        stride = num("stride", 1);
        if (kv.contains("count")) {
          end = start + (num("count", 0) - 1) * stride;
        } else {
          end = num("end", 0);
        }
        if (kv.contains("format")) format = JsonToText(kv["format"]);
      }
      if (stride == 0) return absl::InvalidArgumentError("stride must not be zero");
      json out = json::array();
      for (long i = start; stride > 0 ? i <= end : i >= end; i += stride) {
        char buf[256];
        std::snprintf(buf, sizeof(buf), format.c_str(), i);
        out.push_back(std::string(buf));
        if (out.size() > 100000) break;
      }
      return out;
    }
    return absl::UnimplementedError(absl::StrCat("with_", lookup, " is not supported"));
  }
  return json::array();
}

absl::StatusOr<json> Executor::Impl::ExecuteWithRetries(const Task& task, const Scope& scope,
                                                        const std::string& host, json* vars) {
  const Keyword* until = task.Get("until");
  const Keyword* retries_kw = task.Get("retries");
  tmpl::Context ctx = MakeContext(vars);
  int attempts = 1;
  json until_cond;
  if (until != nullptr) {
    until_cond = until->value;
    attempts = 4;  // Ansible's default: 3 retries
  } else if (retries_kw != nullptr) {
    // Newer Ansible (and issue #5): retries without until retry until the task succeeds.
    until_cond = "__tachyon_result is not failed";
  }
  if (retries_kw != nullptr) {
    ASSIGN_OR_RETURN(json r, tmpl::RenderDeep(retries_kw->value, ctx));
    int n = r.is_number() ? r.get<int>() : std::atoi(JsonToText(r).c_str());
    attempts = n <= 0 ? 1 : n + 1;
  }
  if (until_cond.is_null()) attempts = 1;
  double delay = 5;
  if (const Keyword* d = task.Get("delay")) {
    ASSIGN_OR_RETURN(json r, tmpl::RenderDeep(d->value, ctx));
    delay = r.is_number() ? r.get<double>() : std::atof(JsonToText(r).c_str());
    if (delay < 0) delay = 1;
  }
  const Keyword* reg = task.Get("register");
  const std::string register_as = reg ? JsonToText(reg->value) : "";
  json result;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    ASSIGN_OR_RETURN(result, ExecuteOnce(task, scope, host, *vars));
    if (!result.contains("changed")) result["changed"] = false;
    if (!until_cond.is_null()) result["attempts"] = attempt;
    if (!register_as.empty()) (*vars)[register_as] = result;
    if (!IsSkipped(result)) {
      (*vars)["__tachyon_result"] = result;
      if (const Keyword* cw = task.Get("changed_when")) {
        auto c = EvalWhen(cw->value, *vars);
        if (!c.ok()) {
          result["failed"] = true;
          result["changed_when_result"] = std::string(c.status().message());
        } else {
          result["changed"] = *c;
        }
      }
      if (const Keyword* fw = task.Get("failed_when");
          fw != nullptr && !result.contains("changed_when_result")) {
        if (!register_as.empty()) (*vars)[register_as] = result;
        auto f = EvalWhen(fw->value, *vars);
        if (!f.ok()) {
          result["failed"] = true;
          result["failed_when_result"] = std::string(f.status().message());
        } else {
          result["failed"] = *f;
          result["failed_when_result"] = *f;
        }
      }
      if (!register_as.empty()) (*vars)[register_as] = result;
      (*vars)["__tachyon_result"] = result;
    }
    if (attempts <= 1) break;
    ASSIGN_OR_RETURN(bool done, EvalWhen(until_cond, *vars));
    if (done) break;
    if (attempt == attempts) {
      result["attempts"] = attempts - 1;
      result["failed"] = true;
      break;
    }
    if (task.action == "async_status") {
      // Push semantics: wake on the job's next state change or after `delay`, whichever first;
      // a job already over ends the loop now, since more attempts cannot change its result.
      std::string jid = result.value("ansible_job_id", std::string());
      if (result.value("finished", 0) == 1 && IsFailed(result)) break;
      auto waited = runner_->AwaitJob(jid, absl::Seconds(delay));
      if (!waited.ok()) continue;
    } else {
      clock_->SleepUntil(clock_->Now() + absl::Seconds(delay));
    }
  }
  vars->erase("__tachyon_result");
  return result;
}

absl::StatusOr<json> Executor::Impl::ExecuteOnce(const Task& task, const Scope& scope,
                                                 const std::string& host, const json& vars) {
  tmpl::Context ctx = MakeContext(&vars);
  const std::string& a = task.action;
  // Free-form arguments are templated, then parsed (kv_args.h); mapping keys override them.
  auto rendered_args = [&]() -> absl::StatusOr<json> {
    // As Ansible: free-form arguments are split first, then each value is templated, so that
    // `z="{{ x }}"` keeps x's type.
    json args = json::object();
    if (task.raw_args.has_value()) {
      ASSIGN_OR_RETURN(json parsed, ParseFreeForm(a, *task.raw_args));
      ASSIGN_OR_RETURN(args, tmpl::RenderDeep(parsed, ctx));
    }
    ASSIGN_OR_RETURN(json mapped, tmpl::RenderDeep(task.args, ctx));
    Merge(&args, mapped);
    return RemoveOmit(args);
  };
  // Controller actions that need untemplated args see the free-form ones parsed, untemplated.
  auto raw_args = [&]() -> absl::StatusOr<json> {
    json args = json::object();
    if (task.raw_args.has_value()) {
      ASSIGN_OR_RETURN(args, ParseFreeForm(a, *task.raw_args));
    }
    Merge(&args, task.args);
    return args;
  };
  if (a == "debug") {
    ASSIGN_OR_RETURN(json args, raw_args());
    return RunDebug(args, ctx, opts_.verbosity);
  }
  if (a == "assert") {
    ASSIGN_OR_RETURN(json args, raw_args());
    return RunAssert(args, ctx);
  }
  if (a == "set_fact") {
    ASSIGN_OR_RETURN(json args, rendered_args());
    return RunSetFact(args);
  }
  if (a == "fail") {
    ASSIGN_OR_RETURN(json args, rendered_args());
    return RunFail(args);
  }
  if (a == "pause") {
    // ansible-core 2.14's pause action, minus the prompt (a rollout is never interactive).
    ASSIGN_OR_RETURN(json args, rendered_args());
    if (args.contains("seconds") && args.contains("minutes")) {
      return json{{"failed", true},
                  {"changed", false},
                  {"msg", "parameters are mutually exclusive: minutes|seconds"}};
    }
    // int() of the value, as Ansible's argument spec does (floats are truncated).
    auto to_int = [](const json& v) -> int64_t {
      return v.is_number() ? static_cast<int64_t>(v.get<double>())
                           : static_cast<int64_t>(std::atof(JsonToText(v).c_str()));
    };
    int64_t secs = 0;
    bool minutes = true;
    if (args.contains("minutes")) {
      secs = to_int(args["minutes"]) * 60;
    } else if (args.contains("seconds")) {
      secs = to_int(args["seconds"]);
      minutes = false;
    }
    bool echo = !args.contains("echo") || Truthy(args["echo"]);
    absl::Time start = clock_->Now();
    clock_->SleepUntil(start + absl::Seconds(secs));
    absl::Time stop = clock_->Now();
    double duration = absl::ToDoubleSeconds(stop - start);
    double shown = std::round((minutes ? duration / 60.0 : duration) * 100) / 100;
    // Python's str() of a rounded float: "2.0", "2.5", "2.33".
    std::string text = absl::StrFormat("%.2f", shown);
    while (text.size() > 1 && text.back() == '0' && text[text.size() - 2] != '.') text.pop_back();
    auto when = [](absl::Time t) {
      return absl::FormatTime("%Y-%m-%d %H:%M:%E6S", t, absl::LocalTimeZone());
    };
    return json{{"changed", false},
                {"failed", false},
                {"delta", static_cast<int64_t>(duration)},
                {"echo", echo},
                {"rc", 0},
                {"start", when(start)},
                {"stop", when(stop)},
                {"stderr", ""},
                {"stdout", absl::StrCat("Paused for ", text, minutes ? " minutes" : " seconds")},
                {"user_input", ""}};
  }
  if (a == "include_vars") {
    ASSIGN_OR_RETURN(json args, rendered_args());
    std::string file = args.contains("file") ? JsonToText(args["file"])
                                             : JsonToText(args.value("_raw_params", json("")));
    std::string path = file;
    if (!path.empty() && path[0] != '/') {
      std::string base = scope.role != nullptr ? scope.role->path + "/vars" : play_->base_dir;
      path = base + "/" + file;
      if (scope.role != nullptr && !std::ifstream(path)) path = play_->base_dir + "/" + file;
    }
    auto loaded = LoadVarsFile(path);
    if (!loaded.ok()) {
      return json{{"failed", true},
                  {"changed", false},
                  {"msg", absl::StrCat("Could not find or access '", file, "'")}};
    }
    json facts = *loaded;
    if (args.contains("name")) facts = json{{JsonToText(args["name"]), *loaded}};
    return json{{"ansible_facts", facts},
                {"ansible_included_var_files", json::array({path})},
                {"changed", false},
                {"failed", false}};
  }
  if (a == "async_status") {
    ASSIGN_OR_RETURN(json args, rendered_args());
    return RunAsyncStatus(args);
  }
  return RunAgentModule(task, scope, host, vars);
}

absl::StatusOr<json> Executor::Impl::RunAsyncStatus(const json& args) {
  if (!args.contains("jid")) {
    return json{{"failed", true}, {"changed", false}, {"msg", "missing required arguments: jid"}};
  }
  std::string jid = JsonToText(args["jid"]);
  std::string mode = args.contains("mode") ? JsonToText(args["mode"]) : "status";
  if (mode == "cleanup") {
    absl::Status st = runner_->CleanupJob(jid);
    json r = AsyncRunningResult(jid);
    r.erase("results_file");
    r["started"] = 0;
    r["erased"] = AsyncResultsFile(jid);
    if (!st.ok() && !absl::IsNotFound(st)) return st;
    return r;
  }
  auto st = runner_->JobStatus(jid);
  if (!st.ok()) {
    if (absl::IsNotFound(st.status())) return AsyncNotFoundResult(jid);
    return st.status();
  }
  if (!IsTerminal(st->state)) return AsyncRunningResult(jid);
  bool failed = st->state != JobState::kSucceeded;
  return AsyncFinishedResult(jid, st->result, failed,
                             st->state == JobState::kTimedOut ? "Timeout exceeded" : "");
}

// copy (src), template and script read their file here, on the controller, from the uploaded
// bundle, and send its content to the host: copy and template as `copy` with
// `_tachyon_content_b64`, script with `_tachyon_script_b64` (docs/MODULES.md).
absl::Status Executor::Impl::StageControllerFiles(const Task& task, const Scope& scope,
                                                  const json& vars, std::string* module,
                                                  json* args) {
  const bool is_template = *module == "template";
  const bool is_copy =
      *module == "copy" && args->contains("src") && !Truthy(args->value("remote_src", json(false)));
  const bool is_script = *module == "script";
  if (!is_template && !is_copy && !is_script) return absl::OkStatus();
  std::string name;
  std::string rest;
  if (is_script) {
    std::string line = args->contains("cmd") ? JsonToText((*args)["cmd"])
                                             : JsonToText(args->value("_raw_params", json("")));
    line = std::string(absl::StripAsciiWhitespace(line));
    size_t space = line.find_first_of(" \t");
    name = line.substr(0, space);
    rest = space == std::string::npos ? "" : line.substr(space + 1);
    args->erase("cmd");
    (*args)["_raw_params"] = rest;
  } else {
    if (!args->contains("src") || (*args)["src"].is_null()) {
      return absl::InvalidArgumentError(is_template ? "src is required"
                                                    : "src or content is required");
    }
    name = JsonToText((*args)["src"]);
  }
  if (name.empty()) return absl::InvalidArgumentError("no script given");
  std::vector<std::string> search = ControllerSearchPath(is_template ? "templates" : "files",
                                                         scope.role, task.file, play_->base_dir);
  ASSIGN_OR_RETURN(std::string path, FindControllerFile(name, search, opts_.file_root));
  // base64 grows content by a third; the rest of the arguments need room too.
  ASSIGN_OR_RETURN(std::string content, ReadControllerFile(path, kMaxArgsBytes / 4 * 3 - 4096));
  std::string base = name.substr(name.rfind('/') == std::string::npos ? 0 : name.rfind('/') + 1);
  if (is_template) {
    tmpl::Context ctx = MakeContext(&vars);
    ctx.read_file = [search, this](std::string_view file) -> absl::StatusOr<std::string> {
      ASSIGN_OR_RETURN(std::string p,
                       FindControllerFile(std::string(file), search, opts_.file_root));
      return ReadControllerFile(p, kMaxArgsBytes);
    };
    auto rendered = tmpl::RenderText(content, ctx, name);
    if (!rendered.ok() && tmpl::IsUndefinedVariableError(rendered.status())) {
      // The template action's wording.
      std::string m(rendered.status().message());
      return absl::InvalidArgumentError(absl::StrCat("AnsibleUndefinedVariable: ", m, ". ", m));
    }
    ASSIGN_OR_RETURN(content, std::move(rendered));
    for (const char* k :
         {"newline_sequence", "block_start_string", "block_end_string", "variable_start_string",
          "variable_end_string", "comment_start_string", "comment_end_string", "trim_blocks",
          "lstrip_blocks", "output_encoding"}) {
      args->erase(k);
    }
    *module = "copy";
  }
  if (is_script) {
    (*args)["_tachyon_script_b64"] = absl::Base64Escape(content);
    (*args)["_tachyon_script_name"] = base;
  } else {
    args->erase("src");
    (*args)["_tachyon_content_b64"] = absl::Base64Escape(content);
    (*args)["_tachyon_src_name"] = base;
  }
  return absl::OkStatus();
}

// tachyon_gate (a tachyon extension): a command or a URL checked on the controller's own host
// after each batch. `tachyon_gate: CMD` or {command: CMD | url: URL, status_code, timeout,
// on_failure: pause|abort}.
absl::Status Executor::Impl::CheckHealthGate(const Play& play, const Keyword& gate, int batch,
                                             const tmpl::Context& ctx) {
  ASSIGN_OR_RETURN(json spec, tmpl::RenderDeep(gate.value, ctx));
  if (spec.is_string()) spec = json{{"command", spec}};
  if (!spec.is_object() || (spec.contains("command") == spec.contains("url"))) {
    return ErrorAt(gate.pos, "tachyon_gate takes a command or a url (one of them)");
  }
  std::string on_failure = spec.value("on_failure", std::string("pause"));
  if (on_failure != "pause" && on_failure != "abort") {
    return ErrorAt(gate.pos, "tachyon_gate.on_failure must be pause or abort");
  }
  int timeout = spec.contains("timeout") ? std::atoi(JsonToText(spec["timeout"]).c_str()) : 60;
  std::string module = spec.contains("command") ? "command" : "uri";
  json args = spec.contains("command")
                  ? json{{"_raw_params", JsonToText(spec["command"])}}
                  : json{{"url", JsonToText(spec["url"])}, {"timeout", timeout}};
  if (spec.contains("status_code")) args["status_code"] = spec["status_code"];
  GateEvent ev;
  ev.play = PlayName(play);
  ev.batch = batch;
  ev.on_failure = on_failure;
  auto jid = runner_->StartJob("localhost", module, args.dump(), timeout, {});
  if (!jid.ok()) {
    ev.result = json{{"failed", true}, {"msg", std::string(jid.status().message())}};
  } else {
    while (true) {
      auto r = runner_->AwaitJob(*jid, absl::InfiniteDuration());
      if (!r.ok()) {
        ev.result = json{{"failed", true}, {"msg", std::string(r.status().message())}};
        break;
      }
      if (r->has_value() && IsTerminal((*r)->state)) {
        ev.result = (*r)->result;
        ev.ok = (*r)->state == JobState::kSucceeded && !IsFailed(ev.result);
        break;
      }
    }
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    sink_->OnGate(ev);
  }
  if (!ev.ok) {
    std::string reason = absl::StrCat("health gate failed after batch ", batch);
    if (opts_.on_gate_failure) {
      opts_.on_gate_failure(on_failure, reason);
    } else {
      end_play_ = true;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<json> Executor::Impl::RunAgentModule(const Task& task, const Scope& scope,
                                                    const std::string& host, const json& vars) {
  tmpl::Context ctx = MakeContext(&vars);
  json args = json::object();
  if (task.raw_args.has_value()) {
    ASSIGN_OR_RETURN(json parsed, ParseFreeForm(task.action, *task.raw_args));
    ASSIGN_OR_RETURN(args, tmpl::RenderDeep(parsed, ctx));
  }
  ASSIGN_OR_RETURN(json mapped, tmpl::RenderDeep(task.args, ctx));
  Merge(&args, mapped);
  args = RemoveOmit(args);
  int async_secs = 0, poll = 15;
  if (const Keyword* k = Innermost(scope, &task, "async")) {
    ASSIGN_OR_RETURN(json v, tmpl::RenderDeep(k->value, ctx));
    async_secs = v.is_number() ? v.get<int>() : std::atoi(JsonToText(v).c_str());
  }
  if (const Keyword* k = Innermost(scope, &task, "poll")) {
    ASSIGN_OR_RETURN(json v, tmpl::RenderDeep(k->value, ctx));
    poll = v.is_number() ? v.get<int>() : std::atoi(JsonToText(v).c_str());
  }
  bool check = opts_.check_mode;
  if (const Keyword* k = Innermost(scope, &task, "check_mode")) {
    ASSIGN_OR_RETURN(check, KeywordBool(k, vars, check));
  }
  if (async_secs > 0 && check) {
    return json{{"failed", true},
                {"changed", false},
                {"msg", "check mode and async cannot be used on same task."}};
  }
  if (check) args["_ansible_check_mode"] = true;
  bool diff = opts_.diff;
  if (const Keyword* k = Innermost(scope, &task, "diff")) {
    ASSIGN_OR_RETURN(diff, KeywordBool(k, vars, diff));
  }
  if (diff) args["_ansible_diff"] = true;
  std::string target = host;
  if (const Keyword* d = Innermost(scope, &task, "delegate_to")) {
    ASSIGN_OR_RETURN(json v, tmpl::RenderDeep(d->value, ctx));
    target = JsonToText(v);
  }
  if (!runner_->IsReachable(target)) {
    return json{
        {"unreachable", true},
        {"changed", false},
        {"msg", absl::StrCat("Failed to connect to the host: no agent connected for ", target)}};
  }
  std::map<std::string, std::string> env;
  for (const auto* kws : scope.chain) {
    auto it = kws->find("environment");
    if (it == kws->end()) continue;
    ASSIGN_OR_RETURN(json e, tmpl::RenderDeep(it->second.value, ctx));
    if (e.is_object()) {
      for (const auto& [k, v] : e.items()) env[k] = JsonToText(v);
    }
  }
  if (const Keyword* k = task.Get("environment")) {
    ASSIGN_OR_RETURN(json e, tmpl::RenderDeep(k->value, ctx));
    if (e.is_object()) {
      for (const auto& [k2, v] : e.items()) env[k2] = JsonToText(v);
    }
  }
  int timeout = async_secs;
  if (timeout == 0) {
    if (const Keyword* k = Innermost(scope, &task, "timeout")) {
      ASSIGN_OR_RETURN(json v, tmpl::RenderDeep(k->value, ctx));
      timeout = v.is_number() ? v.get<int>() : std::atoi(JsonToText(v).c_str());
    }
  }
  std::string module = task.action;
  if (absl::Status staged = StageControllerFiles(task, scope, vars, &module, &args); !staged.ok()) {
    return json{{"failed", true}, {"changed", false}, {"msg", std::string(staged.message())}};
  }
  ASSIGN_OR_RETURN(std::string jid, runner_->StartJob(target, module, args.dump(), timeout, env));
  if (async_secs > 0 && poll == 0) return AsyncStartedResult(jid);
  // Wait for the completion event: no polling interval, whatever `poll` says.
  JobResult done;
  while (true) {
    ASSIGN_OR_RETURN(auto r, runner_->AwaitJob(jid, absl::InfiniteDuration()));
    if (r.has_value() && IsTerminal(r->state)) {
      done = *r;
      break;
    }
  }
  bool failed = done.state != JobState::kSucceeded || IsFailed(done.result);
  if (async_secs > 0 && done.state == JobState::kTimedOut) {
    // Ansible's poll loop gives up at `async` seconds with the last status it saw.
    json last = AsyncRunningResult(jid);
    last.erase("changed");
    last.erase("failed");
    return json{{"failed", true},
                {"changed", false},
                {"msg", absl::StrCat("async task did not complete within the requested time - ",
                                     async_secs, "s")},
                {"async_result", last}};
  }
  if (async_secs > 0) {
    json r = AsyncFinishedResult(jid, done.result, failed,
                                 done.state == JobState::kTimedOut
                                     ? absl::StrCat("async task did not complete within the "
                                                    "requested time - ",
                                                    async_secs, "s")
                                     : "");
    return r;
  }
  json r = done.result.is_object() ? done.result : json::object();
  // The job id and its async bookkeeping belong to async tasks only (Ansible's register).
  for (const char* k : {"ansible_job_id", "started", "finished", "results_file"}) r.erase(k);
  if (failed) {
    r["failed"] = true;
    if (done.state == JobState::kTimedOut && !r.contains("msg")) {
      r["msg"] = absl::StrCat("The command action failed to execute in the expected time frame (",
                              timeout, ") and was terminated");
    }
  } else if (!r.contains("failed")) {
    r["failed"] = false;
  }
  return r;
}

void Executor::Impl::RunInclude(const Task& task, const Scope& scope) {
  // Dynamic includes run per host, as Ansible's linear strategy does: each host evaluates
  // `when`, the loop and the file name; hosts that include the same file with the same
  // parameters then run it together, in the order first seen.
  struct Group {
    std::string key;
    int role_index = -1;
    std::shared_ptr<std::vector<Task>> tasks;
    json params;
    std::set<std::string> hosts;
  };
  std::vector<Group> groups;
  const std::string name = TaskName(task);
  for (const std::string& host : ActiveHosts(&scope)) {
    json vars = ComposeVars(host, scope, &task);
    json when_conds = json::array();
    if (const Keyword* w = task.Get("when")) {
      when_conds = w->value.is_array() ? w->value : json::array({w->value});
    }
    const bool has_loop = task.Has("loop") || std::any_of(task.keywords.begin(),
                                                          task.keywords.end(), [](const auto& kv) {
                                                            return kv.first.rfind("with_", 0) == 0;
                                                          });
    json items = json::array({json()});
    std::string loop_var = "item";
    if (has_loop) {
      auto li = LoopItems(task, vars);
      if (!li.ok()) {
        Outcome o;
        o.status = "failed";
        o.result = json{{"failed", true}, {"msg", std::string(li.status().message())}};
        std::lock_guard<std::mutex> l(mu_);
        hosts_[host].failed = true;
        Count(&hosts_[host], o, scope.has_rescue);
        Emit(name, host, o, false, false);
        continue;
      }
      items = *li;
      if (const Keyword* lc = task.Get("loop_control"); lc != nullptr && lc->value.is_object()) {
        loop_var = lc->value.value("loop_var", std::string("item"));
      }
    }
    json include_results = json::array();
    for (const json& item : items) {
      json ivars = vars;
      json params = json::object();
      if (has_loop) {
        ivars[loop_var] = item;
        params[loop_var] = item;
        params["ansible_loop_var"] = loop_var;
      }
      auto ok = EvalWhen(when_conds, ivars);
      Outcome o;
      if (ok.ok() && !*ok) {
        o.status = "skipped";
        o.result = json{
            {"changed", false}, {"skip_reason", "Conditional result was False"}, {"skipped", true}};
        std::lock_guard<std::mutex> l(mu_);
        Count(&hosts_[host], o, false);
        Emit(name, host, o, false, false);
        continue;
      }
      tmpl::Context ctx = MakeContext(&ivars);
      // `include_tasks: file.yml` is a bare file name; `file=x` style is accepted too.
      absl::StatusOr<json> args = json::object();
      if (task.raw_args.has_value()) {
        args = ParseFreeForm(task.action, *task.raw_args);
        if (!args.ok() || args->contains("_raw_params") || args->empty()) {
          args = json{{"_raw_params", *task.raw_args}};
        } else if (args->contains("file")) {
          (*args)["_raw_params"] = (*args)["file"];
        }
      }
      if (args.ok()) {
        Merge(&*args, task.args);
        args = tmpl::RenderDeep(*args, ctx);
      }
      absl::Status st = ok.ok() ? args.status() : ok.status();
      Group g;
      g.params = params;
      if (st.ok()) {
        IncludeContext ictx;
        ictx.including_file = task.file;
        ictx.play_base_dir = play_->base_dir;
        if (scope.role != nullptr) ictx.role_path = scope.role->path;
        ictx.handlers = scope.is_handler;
        if (task.kind == TaskKind::kIncludeTasks) {
          std::string file = JsonToText(args->value("_raw_params", json("")));
          auto path = ResolveTaskFile(file, ictx);
          if (path.ok()) {
            g.key = *path;
            std::unique_lock<std::mutex> load_lock(load_mu_);
            auto loaded = LoadTaskFile(*path, ictx, pb_);
            load_lock.unlock();
            if (loaded.ok()) {
              g.tasks = std::make_shared<std::vector<Task>>(std::move(*loaded));
            } else {
              st = loaded.status();
            }
          } else {
            st = path.status();
          }
        } else {
          RoleLoadSpec spec;
          spec.name = JsonToText(args->value("name", json("")));
          for (auto [k, field] :
               {std::pair<const char*, std::string*>{"tasks_from", &spec.tasks_from},
                {"handlers_from", &spec.handlers_from},
                {"vars_from", &spec.vars_from},
                {"defaults_from", &spec.defaults_from}}) {
            if (args->contains(k)) *field = JsonToText((*args)[k]);
          }
          if (pb_->roles.size() >= pb_->roles.capacity()) {
            st = absl::ResourceExhaustedError("too many roles loaded at run time");
          } else {
            std::unique_lock<std::mutex> load_lock(load_mu_);
            auto idx = LoadRole(spec, play_->base_dir, task.pos, pb_);
            load_lock.unlock();
            if (idx.ok()) {
              g.role_index = *idx;
              g.key = absl::StrCat("role:", *idx);
              g.tasks = std::make_shared<std::vector<Task>>(pb_->roles[*idx].tasks);
            } else {
              st = idx.status();
            }
          }
        }
      }
      if (!st.ok()) {
        o.status = "failed";
        o.result = json{{"failed", true}, {"msg", std::string(st.message())}};
        std::lock_guard<std::mutex> l(mu_);
        hosts_[host].failed = true;
        Count(&hosts_[host], o, scope.has_rescue);
        Emit(name, host, o, false, false);
        break;
      }
      {
        // Ansible reports the include itself: {include, include_args} (per item in a loop).
        json r = {{"include_args", json::object()}};
        if (!has_loop) r["changed"] = false;
        if (task.kind == TaskKind::kIncludeTasks) {
          r["include"] = args->value("_raw_params", json(""));
        } else {
          for (const auto& [k, v] : args->items()) {
            if (k != "_raw_params") r["include_args"][k] = v;
          }
        }
        if (has_loop) {
          r["ansible_loop_var"] = loop_var;
          r[loop_var] = item;
          include_results.push_back(r);
        }
        Outcome io;
        io.status = "ok";
        io.result = r;
        if (has_loop && !io.result.contains("item")) io.result["item"] = item;
        std::lock_guard<std::mutex> l(mu_);
        Count(&hosts_[host], io, false);  // Ansible counts each included item
        Emit(name, host, io, has_loop, false);
      }
      g.key += "\n" + params.dump();
      auto it = std::find_if(groups.begin(), groups.end(),
                             [&](const Group& x) { return x.key == g.key; });
      if (it == groups.end()) {
        g.hosts.insert(host);
        groups.push_back(std::move(g));
      } else {
        it->hosts.insert(host);
      }
    }
    if (has_loop && !include_results.empty()) {
      Outcome agg;
      agg.status = "ok";
      agg.result = json{{"changed", false},
                        {"msg", "All items completed"},
                        {"results", include_results},
                        {"skipped", false}};
      std::lock_guard<std::mutex> l(mu_);
      Emit(name, host, agg, false, false);
    }
  }
  // What the included tasks inherit from the include task: its vars, tags, environment and
  // other block-like keywords, but not its when/loop/register (those applied to the include).
  std::map<std::string, Keyword> inherited;
  for (const auto& [k, v] : task.keywords) {
    if (k == "when" || k == "loop" || k == "loop_control" || k == "register" || k == "notify" ||
        k == "listen" || k.rfind("with_", 0) == 0) {
      continue;
    }
    inherited[k] = v;
  }
  owned_keywords_.push_back(std::move(inherited));
  for (auto& g : groups) {
    owned_tasks_.push_back(std::move(*g.tasks));
    Scope inner = scope;
    inner.chain.push_back(&owned_keywords_.back());
    for (const auto& t : TagSet(task.Get("tags"))) inner.tags.insert(t);
    json params = scope.include_params ? *scope.include_params : json::object();
    Merge(&params, g.params);
    inner.include_params = std::make_shared<const json>(params);
    inner.only = std::make_shared<const std::set<std::string>>(g.hosts);
    if (g.role_index >= 0) {
      inner.role = &pb_->roles[g.role_index];
    }
    RunTasks(owned_tasks_.back(), inner);
  }
}

void Executor::Impl::RunHandlers() {
  // force_handlers: notified handlers run even on hosts that failed since.
  const Keyword* force = play_->Get("force_handlers");
  const bool forced = force != nullptr && Truthy(force->value);
  // Handlers run in the order they are defined (not notified), for the hosts that notified
  // them, until no new notification appears (a handler may notify another).
  std::vector<std::pair<const Task*, Scope>> handlers;
  Scope base;
  base.chain.push_back(&play_->keywords);
  base.is_handler = true;
  // A role listed twice has its handlers once, with the last listing's parameters (Ansible).
  std::map<int, size_t> role_handlers_at;
  for (const auto& ref : play_->roles) {
    if (ref.role_index < 0) continue;
    Scope rs = base;
    rs.role = &pb_->roles[ref.role_index];
    rs.role_params = &ref.params;
    if (auto seen = role_handlers_at.find(ref.role_index); seen != role_handlers_at.end()) {
      for (size_t i = 0; i < rs.role->handlers.size(); ++i) handlers[seen->second + i].second = rs;
      continue;
    }
    role_handlers_at[ref.role_index] = handlers.size();
    for (const auto& h : rs.role->handlers) handlers.emplace_back(&h, rs);
  }
  for (const auto& h : play_->handlers) handlers.emplace_back(&h, base);
  // A notification names a handler or a `listen` topic: it is resolved to every handler it
  // reaches (so two handlers listening to one topic both run), then consumed.
  std::vector<std::vector<std::string>> names(handlers.size());
  for (size_t i = 0; i < handlers.size(); ++i) {
    const Task* handler = handlers[i].first;
    names[i].push_back(handler->name);
    if (const Keyword* listen = handler->Get("listen")) {
      json l = listen->value.is_array() ? listen->value : json::array({listen->value});
      for (const auto& n : l) names[i].push_back(JsonToText(n));
    }
  }
  std::vector<std::set<std::string>> pending(handlers.size());  // hosts per handler
  auto resolve = [&] {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& h : Batch()) {
      HostState& s = hosts_[h];
      for (const auto& n : s.notified) {
        for (size_t i = 0; i < handlers.size(); ++i) {
          if (!n.empty() && std::find(names[i].begin(), names[i].end(), n) != names[i].end()) {
            pending[i].insert(h);
          }
        }
      }
      s.notified.clear();
    }
  };
  resolve();
  for (int round = 0; round < 16; ++round) {
    bool ran = false;
    for (size_t i = 0; i < handlers.size(); ++i) {
      const auto& [handler, scope] = handlers[i];
      std::vector<std::string> hosts;
      {
        std::lock_guard<std::mutex> l(mu_);
        for (const auto& h : Batch()) {
          const HostState& s = hosts_[h];
          if (!pending[i].count(h)) continue;
          if ((s.failed && !forced) || s.unreachable || s.ended) continue;
          hosts.push_back(h);
        }
        pending[i].clear();
      }
      if (hosts.empty()) continue;
      ran = true;
      if (handler->kind == TaskKind::kBlock) {
        RunBlock(*handler, scope);
      } else {
        RunTaskOnHosts(*handler, scope, hosts);
      }
      resolve();  // handlers may notify others: later ones run in this pass
    }
    if (!ran) break;
  }
  std::lock_guard<std::mutex> l(mu_);
  for (const auto& h : Batch()) hosts_[h].notified.clear();
}

// ---------------------------------------------------------------------------------------------

Executor::Executor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Executor::~Executor() = default;

absl::StatusOr<std::unique_ptr<Executor>> Executor::Create(Playbook* playbook, Inventory* inventory,
                                                           TaskRunner* runner, EventSink* sink,
                                                           ExecutorOptions options) {
  if (playbook == nullptr || inventory == nullptr || runner == nullptr || sink == nullptr) {
    return absl::InvalidArgumentError("Executor needs a playbook, inventory, runner and sink");
  }
  return std::unique_ptr<Executor>(
      new Executor(std::make_unique<Impl>(playbook, inventory, runner, sink, std::move(options))));
}

absl::StatusOr<int> Executor::Run() { return impl_->Run(); }

json Executor::HostVarsSnapshot(const std::string& host) const { return impl_->Snapshot(host); }

}  // namespace tachyon::rollout
