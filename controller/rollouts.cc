#include "controller/rollouts.h"

#include <condition_variable>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/date_time.h"
#include "common/fs.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/status.h"
#include "controller/rollout/executor.h"
#include "controller/rollout/inventory.h"
#include "controller/rollout/kv_args.h"
#include "controller/rollout/playbook.h"
#include "controller/rollout/yaml_util.h"

namespace tachyon::controller {
namespace {

using nlohmann::json;
namespace ro = tachyon::rollout;

// ---- the spec ----

json StrList(const std::vector<std::string>& v) { return json(v); }

std::vector<std::string> ListOf(const json& j, const char* key) {
  std::vector<std::string> out;
  if (auto it = j.find(key); it != j.end() && it->is_array()) {
    for (const auto& s : *it) {
      if (s.is_string()) out.push_back(s.get<std::string>());
    }
  }
  return out;
}

// ---- the bundle ----

absl::Status CheckBundlePath(const std::string& path) {
  if (path.empty() || path.size() > 4096 || path[0] == '/' ||
      path.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("bad path in the bundle: \"", path, "\""));
  }
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.empty() || part == "." || part == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("bad path in the bundle: \"", path, "\" (no empty, . or .. parts)"));
    }
  }
  return absl::OkStatus();
}

absl::Status WriteBundle(const std::string& dir, const std::vector<BundleFile>& files) {
  if (files.size() > kMaxBundleFiles) {
    return absl::InvalidArgumentError(absl::StrCat("the playbook directory has ", files.size(),
                                                   " files; the limit is ", kMaxBundleFiles));
  }
  size_t total = 0;
  for (const auto& f : files) {
    RETURN_IF_ERROR(CheckBundlePath(f.path));
    total += f.path.size() + f.content.size();
  }
  if (total > kMaxBundleBytes) {
    return absl::InvalidArgumentError(absl::StrCat("the playbook directory is ", total,
                                                   " bytes; the limit is ", kMaxBundleBytes));
  }
  RETURN_IF_ERROR(MakeDirs(dir, 0700));
  for (const auto& f : files) {
    std::string path = absl::StrCat(dir, "/", f.path);
    RETURN_IF_ERROR(MakeDirs(path.substr(0, path.rfind('/')), 0700));
    // Private to the controller's user; the executable bit is kept for scripts.
    RETURN_IF_ERROR(WriteFileAtomic(path, f.content, (f.mode & 0100) ? 0700 : 0600));
  }
  return absl::OkStatus();
}

bool IsInlineHostList(const std::string& inventory) {
  return inventory.find(',') != std::string::npos && inventory.find('/') == std::string::npos;
}

// Ansible's load_extra_vars for one -e value.
absl::StatusOr<json> ParseExtraVars(const std::string& value, const std::string& bundle) {
  if (value.empty()) return json::object();
  if (value[0] == '@') {
    std::string rel = value.substr(1);
    RETURN_IF_ERROR(CheckBundlePath(rel));
    return ro::LoadVarsFile(absl::StrCat(bundle, "/", rel));
  }
  if (value[0] == '{' || value[0] == '[') {
    ASSIGN_OR_RETURN(YAML::Node node, ro::ParseYaml(value, "extra vars"));
    ASSIGN_OR_RETURN(json j, ro::YamlToJson(node, "extra vars"));
    if (!j.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat("Invalid extra vars data supplied. '", value,
                                                     "' could not be made into a "
                                                     "dictionary"));
    }
    return j;
  }
  // k=v pairs: the values stay strings, as Ansible's parse_kv leaves them.
  return ro::ParseModuleArgs("set_fact", value);
}

// Ansible fails a playbook naming an unknown module before running anything.
absl::Status CheckModules(const std::vector<ro::Task>& tasks) {
  for (const auto& t : tasks) {
    if (t.kind == ro::TaskKind::kAction && !ro::IsKnownModule(t.action)) {
      return ro::ErrorAt(t.action_pos,
                         absl::StrCat("couldn't resolve module/action '", t.action_as_written,
                                      "'. This often indicates a misspelling, missing collection, "
                                      "or incorrect module path."));
    }
    RETURN_IF_ERROR(CheckModules(t.block));
    RETURN_IF_ERROR(CheckModules(t.rescue));
    RETURN_IF_ERROR(CheckModules(t.always));
  }
  return absl::OkStatus();
}

absl::Status CheckModules(const ro::Playbook& pb) {
  for (const auto& play : pb.plays) {
    for (const auto* list : {&play.pre_tasks, &play.tasks, &play.post_tasks, &play.handlers}) {
      RETURN_IF_ERROR(CheckModules(*list));
    }
  }
  for (const auto& role : pb.roles) {
    RETURN_IF_ERROR(CheckModules(role.tasks));
    RETURN_IF_ERROR(CheckModules(role.handlers));
  }
  return absl::OkStatus();
}

// A stable 64-bit FNV-1a hash: the rollout key of a job must survive a controller upgrade.
uint64_t Fnv1a(const std::string& s, uint64_t h = 1469598103934665603ULL) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

ro::JobState ToJobState(const std::string& state) {
  if (state == "pending") return ro::JobState::kPending;
  if (state == "running") return ro::JobState::kRunning;
  if (state == "succeeded") return ro::JobState::kSucceeded;
  if (state == "timed_out") return ro::JobState::kTimedOut;
  return ro::JobState::kFailed;  // failed, killed, lost, unreachable
}

}  // namespace

json RolloutSpec::ToJson() const {
  return json{{"playbook", playbook},
              {"inventories", StrList(inventories)},
              {"limit", limit},
              {"forks", forks},
              {"extra_vars", extra_vars},
              {"check", check},
              {"diff", diff},
              {"tags", StrList(tags)},
              {"skip_tags", skip_tags},
              {"verbosity", verbosity},
              {"origin", origin}};
}

RolloutSpec RolloutSpec::FromJson(const json& j) {
  RolloutSpec s;
  s.playbook = j.value("playbook", "");
  s.inventories = ListOf(j, "inventories");
  s.limit = j.value("limit", "");
  s.forks = j.value("forks", 5);
  s.extra_vars = ListOf(j, "extra_vars");
  s.check = j.value("check", false);
  s.diff = j.value("diff", false);
  s.tags = ListOf(j, "tags");
  s.skip_tags = ListOf(j, "skip_tags");
  s.verbosity = j.value("verbosity", 0);
  s.origin = j.value("origin", "");
  return s;
}

// One rollout: the executor's TaskRunner (jobs through the Dispatcher, completions from the
// EventBus), its EventSink (the event log) and its Clock (interruptible, and instant while
// replaying after a restart).
class RolloutManager::Run final : public ro::TaskRunner, public ro::EventSink, public ro::Clock {
 public:
  Run(RolloutManager* manager, std::string id, RolloutSpec spec, std::string bundle)
      : m_(manager), id_(std::move(id)), spec_(std::move(spec)), bundle_(std::move(bundle)) {}

  ~Run() override {
    Interrupt();
    if (thread_.joinable()) thread_.join();
  }

  // The operator's paths in messages, not the controller's copy.
  std::string Relabel(absl::string_view message) const {
    if (spec_.origin.empty()) return std::string(message);
    std::vector<std::pair<std::string, std::string>> map = {{bundle_ + "/", spec_.origin + "/"},
                                                            {bundle_, spec_.origin}};
    return absl::StrReplaceAll(message, map);
  }

  // Loads everything the executor needs. FailedPrecondition for parse errors.
  absl::Status Load() {
    auto parse_error = [this](const absl::Status& st) {
      return absl::FailedPreconditionError(Relabel(st.message()));
    };
    RETURN_IF_ERROR(CheckBundlePath(spec_.playbook));
    std::string pb_path = absl::StrCat(bundle_, "/", spec_.playbook);
    if (!IsRegularFile(pb_path)) {
      return absl::InvalidArgumentError(
          absl::StrCat("the playbook ", spec_.playbook, " is not in the uploaded directory"));
    }
    auto pb = ro::LoadPlaybook(pb_path);
    if (!pb.ok()) return parse_error(pb.status());
    playbook_ = *std::move(pb);
    if (auto st = CheckModules(playbook_); !st.ok()) return parse_error(st);

    std::vector<std::string> sources;
    for (size_t i = 0; i < spec_.inventories.size(); ++i) {
      const std::string& inv = spec_.inventories[i];
      if (IsInlineHostList(inv)) {
        // "a,b," as Ansible's host_list plugin reads it, written as an INI file of those hosts.
        std::string ini;
        for (absl::string_view h : absl::StrSplit(inv, ',', absl::SkipWhitespace())) {
          absl::StrAppend(&ini, h, "\n");
        }
        std::string path = absl::StrCat(bundle_, "/.tachyon/inline-", i, ".ini");
        RETURN_IF_ERROR(MakeDirs(bundle_ + "/.tachyon", 0700));
        RETURN_IF_ERROR(WriteFileAtomic(path, ini, 0600));
        sources.push_back(path);
        continue;
      }
      RETURN_IF_ERROR(CheckBundlePath(inv));
      sources.push_back(absl::StrCat(bundle_, "/", inv));
    }
    std::string pb_dir = pb_path.substr(0, pb_path.rfind('/'));
    auto inv = ro::Inventory::Load(sources, pb_dir);
    if (!inv.ok()) return parse_error(inv.status());
    inventory_ = *std::move(inv);
    // Agents are hosts, and their --group groups are inventory groups too.
    ASSIGN_OR_RETURN(auto agents, m_->store_->ListAgents());
    for (const auto& a : agents) {
      if (a.name == kLocalhost) continue;
      if (sources.empty()) RETURN_IF_ERROR(inventory_->AddHost(a.name));
      absl::Status st = inventory_->AddAgentGroups(a.name, a.groups, sources.empty());
      if (!st.ok() && !absl::IsNotFound(st)) return st;
    }
    for (const auto& e : spec_.extra_vars) {
      auto vars = ParseExtraVars(e, bundle_);
      if (!vars.ok()) return absl::InvalidArgumentError(Relabel(vars.status().message()));
      for (const auto& [k, v] : vars->items()) extra_vars_[k] = v;
    }
    return absl::OkStatus();
  }

  // Resume: what the log and the store already hold for this rollout.
  absl::Status LoadHistory() {
    ASSIGN_OR_RETURN(auto jobs, m_->store_->ListRolloutJobs(id_));
    for (const auto& j : jobs) {
      if (!j.rollout_key.empty()) memo_[j.rollout_key] = j.jid;
      if (j.host != kLocalhost) hosts_to_wait_.insert(j.host);
    }
    store::EventFilter filter;
    filter.rollout = id_;
    while (true) {
      ASSIGN_OR_RETURN(auto page, m_->store_->ReadEvents(filter));
      if (page.empty()) break;
      for (const auto& e : page) {
        std::string cat = Category(e.type, e.host);
        if (!cat.empty()) {
          ++existing_[cat];
          ++existing_total_;
        }
        filter.since_seq = e.seq;
      }
    }
    return absl::OkStatus();
  }

  void Start(bool resume) {
    uint64_t sub =
        m_->bus_->Subscribe([this](const store::EventRecord& e) { OnBusEvent(e); }, &subscription_);
    (void)sub;
    thread_ = std::thread([this, resume] { Body(resume); });
  }

  void Interrupt() {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }

  // Returns true when the pause state changed.
  bool SetPaused(bool paused) {
    std::lock_guard<std::mutex> lock(mu_);
    if (paused_ == paused || aborted_) return false;
    paused_ = paused;
    cv_.notify_all();
    return true;
  }

  // Returns false when it was aborted already.
  bool Abort(const std::string& by) {
    std::lock_guard<std::mutex> lock(mu_);
    if (aborted_) return false;
    aborted_ = true;
    aborted_by_ = by;
    cv_.notify_all();
    return true;
  }

  const std::string& id() const { return id_; }

  bool done() {
    std::lock_guard<std::mutex> lock(mu_);
    return done_;
  }

  void Join() {
    if (thread_.joinable()) thread_.join();
  }

  // ---- TaskRunner ----

  absl::StatusOr<std::string> StartJob(const std::string& host, const std::string& module,
                                       const std::string& args_json, int timeout_seconds,
                                       const std::map<std::string, std::string>& env) override {
    std::string env_text;
    for (const auto& [k, v] : env) absl::StrAppend(&env_text, k, "=", v, "\n");
    uint64_t base = Fnv1a(
        absl::StrCat(host, "\n", module, "\n", args_json, "\n", env_text, "\n", timeout_seconds));
    std::string key;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return absl::CancelledError("the controller is shutting down");
      key = absl::StrCat(absl::Hex(base, absl::kZeroPad16), "#", ++occurrences_[base]);
      if (auto it = memo_.find(key); it != memo_.end()) return it->second;
    }
    DispatchRequest req;
    req.module = module;
    req.args_json = args_json;
    req.timeout_seconds = timeout_seconds;
    req.env = env;
    req.rollout_id = id_;
    req.rollout_key = key;
    return m_->dispatcher_->StartJob(host, std::move(req));
  }

  absl::StatusOr<std::optional<ro::JobResult>> AwaitJob(const std::string& jid,
                                                        absl::Duration max_wait) override {
    const absl::Time deadline = absl::Now() + max_wait;
    uint64_t gen;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return absl::CancelledError("the controller is shutting down");
      Watch& w = watches_[jid];
      ++w.waiters;
      gen = w.gen;
    }
    auto unwatch = [&] {
      std::lock_guard<std::mutex> lock(mu_);
      if (--watches_[jid].waiters == 0) watches_.erase(jid);
    };
    // Read after registering: a change committed later bumps the generation.
    auto first = JobStatus(jid);
    if (!first.ok() || IsTerminal(first->state)) {
      unwatch();
      if (!first.ok()) return first.status();
      return std::optional<ro::JobResult>(*first);
    }
    bool changed = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      auto pred = [&] { return stopping_ || watches_[jid].gen != gen; };
      if (deadline == absl::InfiniteFuture()) {
        cv_.wait(lock, pred);
      } else {
        cv_.wait_until(lock, absl::ToChronoTime(deadline), pred);
      }
      changed = watches_[jid].gen != gen;
      if (stopping_ && !changed) {
        lock.unlock();
        unwatch();
        return absl::CancelledError("the controller is shutting down");
      }
    }
    unwatch();
    if (!changed) return std::optional<ro::JobResult>();
    ASSIGN_OR_RETURN(ro::JobResult now, JobStatus(jid));
    return std::optional<ro::JobResult>(std::move(now));
  }

  absl::StatusOr<ro::JobResult> JobStatus(const std::string& jid) override {
    ASSIGN_OR_RETURN(auto job, m_->store_->GetJob(jid));
    if (!job) return absl::NotFoundError("could not find job");
    ro::JobResult r;
    r.state = ToJobState(job->state);
    if (IsFinalState(job->state)) r.result = ParseObject(job->result_json);
    return r;
  }

  absl::Status CleanupJob(const std::string& jid) override {
    return m_->dispatcher_->CleanupJob(jid).status();
  }

  bool IsReachable(const std::string& host) override { return m_->dispatcher_->IsConnected(host); }

  // ---- EventSink ----

  void OnPlayStart(const ro::PlayStartEvent& e) override {
    Emit("play_started", "", json{{"play", e.play}, {"hosts", e.hosts}});
  }
  void OnTaskStart(const ro::TaskStartEvent& e) override {
    Emit("task_started", "",
         json{{"play", e.play}, {"task", e.task}, {"handler", e.is_handler}, {"action", e.action}});
  }
  void OnResult(const ro::ResultEvent& e) override {
    json data = ro::ToJson(e);
    data.erase("type");
    data["item_result"] = e.is_item;
    Emit("host_result", e.host, std::move(data));
  }
  void OnRecap(const ro::RecapEvent& e) override {
    std::lock_guard<std::mutex> lock(mu_);
    recap_ = ro::ToJson(e);
    recap_.erase("type");
  }
  void OnGate(const ro::GateEvent& e) override {
    Emit("rollout_gate", "",
         json{{"play", e.play},
              {"batch", e.batch},
              {"ok", e.ok},
              {"on_failure", e.on_failure},
              {"result", e.result}});
  }
  void OnWarning(const std::string& message) override {
    Emit("rollout_warning", "", json{{"msg", Relabel(message)}});
  }

  // ---- the executor's gate: blocks while paused; false once aborted (or shutting down) ----

  bool Gate() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return !paused_ || aborted_ || stopping_; });
    return !aborted_ && !stopping_;
  }

  void GateFailed(const std::string& action, const std::string& reason) {
    if (action == "abort") {
      Abort(reason);
      return;
    }
    if (!SetPaused(true)) return;
    auto st = m_->bus_->Atomically([&](const EventBus::Emit& emit) -> absl::Status {
      RETURN_IF_ERROR(m_->store_->UpdateRollout(id_, "paused", -1, "", absl::Now()));
      return emit(MakeEvent("rollout_paused", "", "", json{{"reason", reason}}, id_)).status();
    });
    if (!st.ok()) TLOG(Error) << "rollout " << id_ << ": recording the pause: " << st;
    TLOG(Info) << "rollout " << id_ << " paused: " << reason;
  }

  // ---- Clock ----

  absl::Time Now() override { return absl::Now(); }
  void SleepUntil(absl::Time deadline) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (Replaying()) return;  // the wait already happened before the restart
    cv_.wait_until(lock, absl::ToChronoTime(deadline), [this] { return stopping_; });
  }

 private:
  struct Watch {
    uint64_t gen = 0;
    int waiters = 0;
  };

  static std::string Category(const std::string& type, const std::string& host) {
    if (type == "play_started") return "p";
    if (type == "task_started") return "t";
    if (type == "rollout_warning") return "w";
    if (type == "rollout_gate") return "g";
    if (type == "host_result") return "r:" + host;
    return "";
  }

  bool Replaying() const { return skipped_total_ < existing_total_; }

  void Emit(const std::string& type, const std::string& host, json data) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;  // an interrupted run's last results are not real outcomes
      std::string cat = Category(type, host);
      if (++emitted_[cat] <= existing_[cat]) {
        ++skipped_total_;  // already in the log before the restart
        return;
      }
    }
    auto st = m_->bus_->Publish(MakeEvent(type, host, "", data, id_));
    if (!st.ok()) {
      TLOG(Error) << "rollout " << id_ << ": recording " << type << ": " << st.status();
    }
  }

  void OnBusEvent(const store::EventRecord& e) {
    std::lock_guard<std::mutex> lock(mu_);
    if (e.type == "agent_connected") {
      cv_.notify_all();
      return;
    }
    if (e.jid.empty() || (e.type != "job_started" && e.type != "job_finished")) return;
    auto it = watches_.find(e.jid);
    if (it == watches_.end()) return;
    ++it->second.gen;
    cv_.notify_all();
  }

  // A resumed rollout first gives its agents time to reconnect to the new controller.
  void WaitForAgents() {
    std::unique_lock<std::mutex> lock(mu_);
    const auto deadline = absl::ToChronoTime(absl::Now() + m_->options_.reconnect_wait);
    cv_.wait_until(lock, deadline, [this] {
      if (stopping_) return true;
      for (const auto& h : hosts_to_wait_) {
        if (!m_->dispatcher_->IsConnected(h)) return false;
      }
      return true;
    });
  }

  void Body(bool resume) {
    if (resume) {
      WaitForAgents();
      TLOG(Info) << "rollout " << id_ << ": resuming (" << memo_.size() << " jobs already started, "
                 << existing_total_ << " events to replay)";
      m_->bus_
          ->Publish(
              MakeEvent("rollout_resumed", "", "", json{{"reason", "controller restarted"}}, id_))
          .IgnoreError();
    }
    ro::ExecutorOptions opts;
    opts.forks = spec_.forks > 0 ? spec_.forks : 5;
    opts.extra_vars = extra_vars_;
    opts.check_mode = spec_.check;
    opts.diff = spec_.diff;
    opts.verbosity = spec_.verbosity;
    opts.tags = spec_.tags;
    opts.skip_tags = spec_.skip_tags;
    opts.limit = spec_.limit;
    opts.clock = this;
    opts.file_root = bundle_;
    opts.gate = [this] { return Gate(); };
    opts.on_gate_failure = [this](const std::string& action, const std::string& reason) {
      GateFailed(action, reason);
    };
    store::Store* st = m_->store_;
    opts.facts = [st](const std::string& host) -> json {
      auto agent = st->GetAgent(host);
      if (!agent.ok() || !agent->has_value()) return json::object();
      json facts = ParseObject((*agent)->facts_json);
      // The hello's facts are as old as the connection; the clock is read at gathering time.
      facts["date_time"] = DateTimeFact(absl::Now());
      return facts;
    };
    int rc = ro::kRcError;
    std::string error;
    auto ex = ro::Executor::Create(&playbook_, inventory_.get(), this, this, opts);
    if (ex.ok()) {
      auto ran = (*ex)->Run();
      if (ran.ok()) {
        rc = *ran;
      } else {
        error = Relabel(ran.status().message());
      }
    } else {
      error = Relabel(ex.status().message());
    }
    m_->bus_->Unsubscribe(subscription_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) {
        done_ = true;
        TLOG(Info) << "rollout " << id_ << ": interrupted; it resumes when the controller restarts";
        return;
      }
    }
    Finish(rc, error);
  }

  void Finish(int rc, const std::string& error) {
    json recap;
    bool aborted;
    std::string by;
    {
      std::lock_guard<std::mutex> lock(mu_);
      recap = recap_.is_object() ? recap_ : json::object();
      aborted = aborted_;
      by = aborted_by_;
    }
    json data = recap;
    data["rc"] = rc;
    if (!error.empty()) data["error"] = error;
    if (aborted) data["by"] = by;
    const std::string state = !error.empty() ? "failed" : aborted ? "aborted" : "finished";
    std::string hosts = recap.contains("hosts") ? recap["hosts"].dump() : std::string("{}");
    auto st = m_->bus_->Atomically([&](const EventBus::Emit& emit) -> absl::Status {
      RETURN_IF_ERROR(m_->store_->UpdateRollout(id_, state, rc, hosts, absl::Now()));
      return emit(MakeEvent(aborted ? "rollout_aborted" : "rollout_finished", "", "", data, id_))
          .status();
    });
    if (!st.ok()) TLOG(Error) << "rollout " << id_ << ": recording its end: " << st;
    TLOG(Info) << "rollout " << id_ << " " << state << " rc=" << rc
               << (error.empty() ? "" : ": " + error);
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
  }

  RolloutManager* m_;
  const std::string id_;
  const RolloutSpec spec_;
  const std::string bundle_;
  ro::Playbook playbook_;
  std::unique_ptr<ro::Inventory> inventory_;
  json extra_vars_ = json::object();
  std::thread thread_;
  uint64_t subscription_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool done_ = false;
  bool paused_ = false;
  bool aborted_ = false;
  std::string aborted_by_;
  std::map<std::string, Watch> watches_;
  std::map<uint64_t, int> occurrences_;
  std::map<std::string, std::string> memo_;  // rollout key -> jid, from before a restart
  std::set<std::string> hosts_to_wait_;
  std::map<std::string, int> existing_, emitted_;
  int existing_total_ = 0, skipped_total_ = 0;
  json recap_;
};

RolloutManager::RolloutManager(store::Store* store, EventBus* bus, Dispatcher* dispatcher,
                               Options options)
    : store_(store), bus_(bus), dispatcher_(dispatcher), options_(std::move(options)) {}

RolloutManager::~RolloutManager() { Stop(); }

std::string RolloutManager::BundleDir(const std::string& id) const {
  return absl::StrCat(options_.state_dir, "/rollouts/", id, "/bundle");
}

absl::StatusOr<std::string> RolloutManager::Start(RolloutSpec spec, std::vector<BundleFile> files) {
  if (spec.forks < 0 || spec.forks > 10000) {
    return absl::InvalidArgumentError("forks must be between 1 and 10000");
  }
  ASSIGN_OR_RETURN(std::string id, store_->NewRolloutId());
  std::string bundle = BundleDir(id);
  absl::Status written = WriteBundle(bundle, files);
  files.clear();
  auto run = std::make_unique<Run>(this, id, spec, bundle);
  absl::Status loaded = written.ok() ? run->Load() : written;
  if (!loaded.ok()) {
    RemoveTree(absl::StrCat(options_.state_dir, "/rollouts/", id)).IgnoreError();
    return loaded;
  }
  store::RolloutRecord rec;
  rec.id = id;
  rec.playbook =
      spec.origin.empty() ? spec.playbook : absl::StrCat(spec.origin, "/", spec.playbook);
  rec.spec_json = spec.ToJson().dump();
  RETURN_IF_ERROR(bus_->Atomically([&](const EventBus::Emit& emit) -> absl::Status {
    RETURN_IF_ERROR(store_->CreateRollout(rec));
    return emit(MakeEvent("rollout_started", "", "",
                          json{{"playbook", rec.playbook}, {"check", spec.check}}, id))
        .status();
  }));
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return absl::UnavailableError("the controller is shutting down");
  ReapFinished();
  TLOG(Info) << "rollout " << id << ": " << rec.playbook << " started";
  run->Start(/*resume=*/false);
  runs_[id] = std::move(run);
  return id;
}

absl::Status RolloutManager::ResumeAll() {
  ASSIGN_OR_RETURN(auto rollouts, store_->ListRollouts({"running", "paused"}));
  for (const auto& rec : rollouts) {
    RolloutSpec spec = RolloutSpec::FromJson(ParseObject(rec.spec_json));
    auto run = std::make_unique<Run>(this, rec.id, spec, BundleDir(rec.id));
    if (rec.state == "paused") run->SetPaused(true);
    absl::Status st = run->Load();
    if (st.ok()) st = run->LoadHistory();
    if (!st.ok()) {
      TLOG(Error) << "rollout " << rec.id << " cannot resume: " << st;
      bus_->Atomically([&](const EventBus::Emit& emit) -> absl::Status {
            RETURN_IF_ERROR(store_->UpdateRollout(rec.id, "failed", ro::kRcError, "", absl::Now()));
            return emit(MakeEvent("rollout_finished", "", "",
                                  json{{"rc", ro::kRcError},
                                       {"hosts", json::object()},
                                       {"error", std::string(st.message())}},
                                  rec.id))
                .status();
          })
          .IgnoreError();
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) break;
    run->Start(/*resume=*/true);
    runs_[rec.id] = std::move(run);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<RolloutManager::Run>> RolloutManager::LiveRun(
    const std::string& id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = runs_.find(id);
    if (it != runs_.end() && !it->second->done()) return it->second;
  }
  ASSIGN_OR_RETURN(auto rec, store_->GetRollout(id));
  if (!rec) return absl::NotFoundError("no rollout " + id);
  return absl::FailedPreconditionError(
      absl::StrCat("rollout ", id, " is already over (", rec->state, ")"));
}

absl::StatusOr<store::RolloutRecord> RolloutManager::Pause(const std::string& id,
                                                           const std::string& by) {
  ASSIGN_OR_RETURN(std::shared_ptr<Run> run, LiveRun(id));
  if (run->SetPaused(true)) {
    RETURN_IF_ERROR(bus_->Atomically([&](const EventBus::Emit& emit) -> absl::Status {
      RETURN_IF_ERROR(store_->UpdateRollout(id, "paused", -1, "", absl::Now()));
      return emit(MakeEvent("rollout_paused", "", "", json{{"by", by}}, id)).status();
    }));
    TLOG(Info) << "rollout " << id << " paused by " << by;
  }
  ASSIGN_OR_RETURN(auto rec, store_->GetRollout(id));
  return *rec;
}

absl::StatusOr<store::RolloutRecord> RolloutManager::Resume(const std::string& id,
                                                            const std::string& by) {
  ASSIGN_OR_RETURN(std::shared_ptr<Run> run, LiveRun(id));
  if (run->SetPaused(false)) {
    RETURN_IF_ERROR(bus_->Atomically([&](const EventBus::Emit& emit) -> absl::Status {
      RETURN_IF_ERROR(store_->UpdateRollout(id, "running", -1, "", absl::Now()));
      return emit(MakeEvent("rollout_resumed", "", "", json{{"by", by}}, id)).status();
    }));
    TLOG(Info) << "rollout " << id << " resumed by " << by;
  }
  ASSIGN_OR_RETURN(auto rec, store_->GetRollout(id));
  return *rec;
}

absl::StatusOr<store::RolloutRecord> RolloutManager::Abort(const std::string& id, bool kill,
                                                           const std::string& by) {
  ASSIGN_OR_RETURN(std::shared_ptr<Run> run, LiveRun(id));
  if (run->Abort(by)) TLOG(Info) << "rollout " << id << " aborted by " << by;
  if (kill) {
    ASSIGN_OR_RETURN(auto jobs, store_->ListRolloutJobs(id));
    for (const auto& j : jobs) {
      if (IsFinalState(j.state)) continue;
      auto killed = dispatcher_->KillJob(j.jid);
      if (!killed.ok()) {
        TLOG(Warning) << "rollout " << id << ": killing job " << j.jid << ": " << killed.status();
      }
    }
  }
  ASSIGN_OR_RETURN(auto rec, store_->GetRollout(id));
  return *rec;
}

void RolloutManager::ReapFinished() {
  for (auto it = runs_.begin(); it != runs_.end();) {
    if (it->second->done()) {
      it->second->Join();
      it = runs_.erase(it);
    } else {
      ++it;
    }
  }
}

void RolloutManager::Stop() {
  std::map<std::string, std::shared_ptr<Run>> runs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    runs.swap(runs_);
  }
  for (auto& [id, run] : runs) run->Interrupt();
  for (auto& [id, run] : runs) run->Join();
}

}  // namespace tachyon::controller
