#include "controller/dispatcher.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "common/status.h"

namespace tachyon::controller {

using nlohmann::json;

bool IsFinalState(const std::string& state) {
  static const std::set<std::string> kFinal = {"succeeded", "failed", "timed_out",
                                               "killed",    "lost",   "unreachable"};
  return kFinal.count(state) > 0;
}

std::string OutcomeStatus(const std::string& state, const json& result) {
  if (state == "unreachable" || result.value("unreachable", false)) return "unreachable";
  if (state == "timed_out") return "timed_out";
  bool failed = false;
  if (auto it = result.find("failed"); it != result.end()) {
    failed = it->is_boolean() ? it->get<bool>() : (it->is_number() && it->get<double>() != 0);
  }
  if (failed || state == "failed" || state == "killed" || state == "lost") return "failed";
  bool changed = false;
  if (auto it = result.find("changed"); it != result.end() && it->is_boolean()) changed = *it;
  return changed ? "changed" : "ok";
}

json ParseObject(const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  return j.is_object() ? j : json::object();
}

absl::Status Dispatcher::Recover() {
  ASSIGN_OR_RETURN(auto agents, store_->ListAgents());
  for (const auto& a : agents) {
    if (a.connected) RETURN_IF_ERROR(store_->SetAgentConnected(a.name, false, absl::Now()));
  }
  // Jobs never accepted before the restart keep their delivery deadline.
  ASSIGN_OR_RETURN(auto pending, store_->ListJobs("", {"pending"}));
  for (const auto& job : pending) {
    ScheduleDeliveryDeadline(job.jid, job.created + options_.delivery_timeout + kDeliveryGrace);
  }
  return absl::OkStatus();
}

std::shared_ptr<AgentLink> Dispatcher::LinkFor(const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto it = links_.find(name);
  return it == links_.end() ? nullptr : it->second;
}

bool Dispatcher::IsConnected(const std::string& name) { return LinkFor(name) != nullptr; }

absl::StatusOr<uint64_t> Dispatcher::AgentConnected(const std::string& name,
                                                    const AgentHello& hello,
                                                    std::shared_ptr<AgentLink> link) {
  std::shared_ptr<AgentLink> previous;
  {
    absl::MutexLock lock(&mu_);
    auto& slot = links_[name];
    previous = std::move(slot);
    slot = link;
  }
  if (previous) previous->Close("replaced by a newer connection of the same agent");

  store::AgentRecord record;
  // One deferred-sync transaction per connect: thousands of agents connecting at once share
  // fsyncs (the bus's group commit).
  RETURN_IF_ERROR(bus_->Atomically([&](const EventBus::Emit& emit) -> absl::Status {
    ASSIGN_OR_RETURN(auto existing, store_->GetAgent(name));
    if (existing) record = *existing;
    record.name = name;
    record.groups = hello.groups;
    record.version = hello.version;
    record.facts_json = hello.facts_json;
    record.connected = true;
    record.last_seen = absl::Now();
    RETURN_IF_ERROR(store_->UpsertAgent(record));
    auto connected = emit(MakeEvent("agent_connected", name, "",
                                    {{"groups", hello.groups}, {"version", hello.version}}));
    if (!connected.ok()) TLOG(Error) << "event log append failed: " << connected.status();
    return absl::OkStatus();  // the connection itself is fine
  }));

  // Jobs this controller believes are running there but the agent no longer knows are lost;
  // jobs never accepted are sent again (dispatch is idempotent on the agent).
  std::set<std::string> known(hello.known_jids.begin(), hello.known_jids.end());
  ASSIGN_OR_RETURN(auto open_jobs, store_->ListJobs(name, {"pending", "running"}));
  for (const auto& job : open_jobs) {
    if (job.state == "running" && !known.count(job.jid)) {
      FinishJob(job.jid, name, "lost",
                {{"failed", true}, {"msg", "job lost: the agent no longer knows it"}})
          .IgnoreError();
    } else if (job.state == "pending" && !known.count(job.jid)) {
      DispatchRequest req;
      req.jid = job.jid;
      req.module = job.module;
      req.args_json = job.args_json;
      req.timeout_seconds = job.timeout_seconds;
      req.rollout_id = job.rollout_id;
      req.deliver_by = job.created + options_.delivery_timeout;
      link->SendDispatch(req);
    }
  }
  return record.last_event_seq;
}

void Dispatcher::AgentDisconnected(const std::string& name, const AgentLink* link) {
  {
    absl::MutexLock lock(&mu_);
    auto it = links_.find(name);
    if (it == links_.end() || it->second.get() != link) return;
    links_.erase(it);
  }
  bus_->Atomically([&](const EventBus::Emit& emit) -> absl::Status {
        store_->SetAgentConnected(name, false, absl::Now()).IgnoreError();
        return emit(MakeEvent("agent_disconnected", name, "", json::object())).status();
      })
      .IgnoreError();
}

absl::Status Dispatcher::FinishJob(const std::string& jid, const std::string& host,
                                   const std::string& state, json result) {
  result["ansible_job_id"] = jid;
  result["started"] = 1;
  result["finished"] = 1;
  if (!result.contains("changed")) result["changed"] = false;
  return bus_->Atomically([&](const EventBus::Emit& emit) -> absl::Status {
    ASSIGN_OR_RETURN(bool updated, store_->UpdateJob(jid, state, result.dump(), absl::Now()));
    if (!updated) return absl::OkStatus();
    ASSIGN_OR_RETURN(auto job, store_->GetJob(jid));
    json data = {{"state", state}, {"status", OutcomeStatus(state, result)}, {"result", result}};
    return emit(MakeEvent("job_finished", host, jid, std::move(data),
                          job ? job->rollout_id : std::string()))
        .status();
  });
}

absl::Status Dispatcher::MarkRunning(const store::JobRecord& job, const EventBus::Emit& emit) {
  // The dispatch ack and the agent's started event both mean "running"; whichever comes
  // first records it, so job_started appears once.
  ASSIGN_OR_RETURN(auto current, store_->GetJob(job.jid));
  if (!current || current->state != "pending") return absl::OkStatus();
  ASSIGN_OR_RETURN(bool updated, store_->UpdateJob(job.jid, "running", "", absl::Now()));
  if (!updated) return absl::OkStatus();
  return emit(MakeEvent("job_started", job.host, job.jid, json::object(), job.rollout_id)).status();
}

void Dispatcher::ScheduleDeliveryDeadline(const std::string& jid, absl::Time deadline) {
  std::lock_guard<std::mutex> lock(timer_mu_);
  deadlines_.emplace(deadline, jid);
  timer_cv_.notify_all();
}

void Dispatcher::StartTimers() {
  timer_thread_ = std::thread([this] { TimerLoop(); });
}

void Dispatcher::StopTimers() {
  {
    std::lock_guard<std::mutex> lock(timer_mu_);
    timers_stopping_ = true;
    timer_cv_.notify_all();
  }
  if (timer_thread_.joinable()) timer_thread_.join();
}

void Dispatcher::TimerLoop() {
  std::unique_lock<std::mutex> lock(timer_mu_);
  while (!timers_stopping_) {
    if (deadlines_.empty()) {
      timer_cv_.wait(lock);
      continue;
    }
    absl::Time next = deadlines_.begin()->first;
    if (absl::Now() < next) {
      // Woken early by a new, nearer deadline or by shutdown; both re-check.
      timer_cv_.wait_until(lock, absl::ToChronoTime(next));
      continue;
    }
    std::string jid = deadlines_.begin()->second;
    deadlines_.erase(deadlines_.begin());
    lock.unlock();
    ExpireDelivery(jid);
    lock.lock();
  }
}

void Dispatcher::ExpireDelivery(const std::string& jid) {
  auto job = store_->GetJob(jid);
  if (!job.ok() || !*job || (*job)->state != "pending") return;
  TLOG(Warning) << "job " << jid << " was never accepted by agent '" << (*job)->host << "' within "
                << absl::FormatDuration(options_.delivery_timeout) << "; unreachable";
  FinishJob(jid, (*job)->host, "unreachable",
            {{"unreachable", true},
             {"changed", false},
             {"msg", absl::StrCat("never delivered: agent ", (*job)->host,
                                  " did not accept the job within ",
                                  absl::FormatDuration(options_.delivery_timeout))}})
      .IgnoreError();
}

absl::Status Dispatcher::HandleJobEvent(const std::string& agent, const AgentJobEvent& event) {
  ASSIGN_OR_RETURN(auto job, store_->GetJob(event.jid));
  if (!job || job->host != agent) {
    TLOG(Warning) << "security: agent '" << agent << "' reported on job '" << event.jid
                  << "', which was not dispatched to it; event seq " << event.seq << " dropped";
    return absl::PermissionDeniedError(
        absl::StrCat("job ", event.jid, " was not dispatched to agent ", agent));
  }
  if (event.kind == AgentJobEvent::Kind::kOutput) {
    // Live output is best effort and unnumbered: the final result carries the output anyway.
    return bus_
        ->Publish(MakeEvent("job_output", agent, event.jid,
                            {{"stream", event.output_stream},
                             {"offset", event.output_offset},
                             {"data", event.output_data}},
                            job->rollout_id))
        .status();
  }
  return bus_->Atomically([&](const EventBus::Emit& emit) -> absl::Status {
    auto applied = store_->ApplyAgentEvent(agent, event.seq, [&]() -> absl::Status {
      switch (event.kind) {
        case AgentJobEvent::Kind::kStarted:
          return MarkRunning(*job, emit);
        case AgentJobEvent::Kind::kOutput:
          return absl::InternalError("output events carry no seq");
        case AgentJobEvent::Kind::kFinished: {
          json result = ParseObject(event.result_json);
          result["ansible_job_id"] = event.jid;
          result["started"] = 1;
          result["finished"] = 1;
          std::string state = IsFinalState(event.state) ? event.state : "failed";
          ASSIGN_OR_RETURN(
              bool updated,
              store_->UpdateJob(event.jid, state,
                                result.dump(-1, ' ', false, json::error_handler_t::replace),
                                absl::Now()));
          if (!updated) {
            TLOG(Warning) << "job " << event.jid << " already has a final result; "
                          << "agent '" << agent << "' reported another (" << state << "), ignored";
            return absl::OkStatus();
          }
          json data = {
              {"state", state}, {"status", OutcomeStatus(state, result)}, {"result", result}};
          return emit(MakeEvent("job_finished", agent, event.jid, std::move(data), job->rollout_id))
              .status();
        }
      }
      return absl::OkStatus();
    });
    return applied.status();
  });
}

absl::Status Dispatcher::HandleDispatchAck(const std::string& agent, const std::string& jid,
                                           bool accepted, const std::string& error, bool expired) {
  ASSIGN_OR_RETURN(auto job, store_->GetJob(jid));
  if (!job || job->host != agent) {
    TLOG(Warning) << "security: agent '" << agent << "' acked job '" << jid
                  << "', which was not dispatched to it; dropped";
    return absl::PermissionDeniedError(absl::StrCat("job ", jid, " was not dispatched to ", agent));
  }
  if (accepted) {
    if (job->state == "unreachable") {
      // The agent accepted a dispatch after its deadline (its clock is behind ours by more than
      // the grace). The job is already recorded as never delivered: stop it there.
      TLOG(Error) << "agent '" << agent << "' accepted job " << jid
                  << " after it was recorded unreachable; killing it (check the host's clock)";
      if (auto link = LinkFor(agent)) link->SendKill(jid);
      return absl::OkStatus();
    }
    // Accepted means stored in the agent's spool: the job is no longer "never delivered".
    return bus_->Atomically([&](const EventBus::Emit& emit) { return MarkRunning(*job, emit); });
  }
  if (expired) {
    return FinishJob(
        jid, agent, "unreachable",
        {{"unreachable", true}, {"changed", false}, {"msg", "never delivered: " + error}});
  }
  return FinishJob(jid, agent, "failed", {{"failed", true}, {"msg", error}});
}

absl::StatusOr<std::string> Dispatcher::StartJob(const std::string& host, DispatchRequest request) {
  store::JobRecord job;
  job.host = host;
  job.module = request.module;
  job.args_json = request.args_json;
  job.timeout_seconds = request.timeout_seconds;
  job.rollout_id = request.rollout_id;
  job.rollout_key = request.rollout_key;
  job.state = "pending";
  job.created = job.updated = absl::Now();
  RETURN_IF_ERROR(bus_->Atomically([&](const EventBus::Emit& emit) -> absl::Status {
    ASSIGN_OR_RETURN(job.jid, store_->NewJobId());
    RETURN_IF_ERROR(store_->CreateJob(job));
    return emit(MakeEvent("job_dispatched", host, job.jid,
                          {{"module", request.module}, {"timeout", request.timeout_seconds}},
                          request.rollout_id))
        .status();
  }));
  const std::string& jid = job.jid;
  request.jid = jid;
  request.deliver_by = job.created + options_.delivery_timeout;
  ScheduleDeliveryDeadline(jid, request.deliver_by + kDeliveryGrace);
  // Sent once the job is on disk, so an agent never runs a job the controller could forget
  // (a power loss would otherwise hand its jid out again). Returns at once: a fan-out to many
  // hosts shares the fsyncs.
  if (auto link = LinkFor(host)) {
    bus_->WhenDurable([link, request = std::move(request)] { link->SendDispatch(request); });
  }
  return jid;
}

void Dispatcher::WhenDurable(std::function<void()> fn) { bus_->WhenDurable(std::move(fn)); }

absl::StatusOr<std::pair<store::JobRecord, json>> Dispatcher::JobStatus(const std::string& jid) {
  ASSIGN_OR_RETURN(auto job, store_->GetJob(jid));
  if (!job) return absl::NotFoundError("could not find job");
  json result;
  if (IsFinalState(job->state)) {
    result = ParseObject(job->result_json);
  } else {
    result = {{"started", job->state == "running" ? 1 : 0}, {"finished", 0}};
  }
  result["ansible_job_id"] = jid;
  return std::make_pair(*job, result);
}

absl::StatusOr<store::JobRecord> Dispatcher::KillJob(const std::string& jid) {
  ASSIGN_OR_RETURN(auto job, store_->GetJob(jid));
  if (!job) return absl::NotFoundError("could not find job");
  if (IsFinalState(job->state)) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", jid, " already finished (", job->state, ")"));
  }
  auto link = LinkFor(job->host);
  if (!link || !link->SendKill(jid)) {
    return absl::UnavailableError(absl::StrCat("agent ", job->host, " is not connected"));
  }
  return *job;
}

absl::StatusOr<store::JobRecord> Dispatcher::CleanupJob(const std::string& jid) {
  ASSIGN_OR_RETURN(auto job, store_->GetJob(jid));
  if (!job) return absl::NotFoundError("could not find job");
  if (!IsFinalState(job->state)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job ", jid, " is still ", job->state, "; kill it first (tachyon job kill ", jid, ")"));
  }
  // The agent may be away; its spool retention removes the data then. Our record goes now.
  if (auto link = LinkFor(job->host)) link->SendCleanup(jid);
  RETURN_IF_ERROR(store_->DeleteJob(jid));
  return *job;
}

absl::StatusOr<std::vector<AgentView>> Dispatcher::ListAgents() {
  ASSIGN_OR_RETURN(auto records, store_->ListAgents());
  std::vector<AgentView> out;
  absl::MutexLock lock(&mu_);
  for (auto& r : records) {
    AgentView v;
    v.connected = links_.count(r.name) > 0;
    v.record = std::move(r);
    out.push_back(std::move(v));
  }
  return out;
}

absl::StatusOr<uint64_t> Dispatcher::LastAgentSeq(const std::string& name) {
  ASSIGN_OR_RETURN(auto agent, store_->GetAgent(name));
  return agent ? agent->last_event_seq : 0;
}

absl::StatusOr<rollout::HostUniverse> Dispatcher::Universe() {
  ASSIGN_OR_RETURN(auto records, store_->ListAgents());
  rollout::HostUniverse u;
  for (const auto& r : records) {
    if (r.name == kLocalhost) {
      u.implicit_hosts.push_back(r.name);
      continue;
    }
    u.hosts.push_back(r.name);
    u.groups["all"].push_back(r.name);
    if (r.groups.empty()) u.groups["ungrouped"].push_back(r.name);
    for (const auto& g : r.groups) u.groups[g].push_back(r.name);
  }
  return u;
}

void Dispatcher::CloseAll(const std::string& reason) {
  std::map<std::string, std::shared_ptr<AgentLink>> links;
  {
    absl::MutexLock lock(&mu_);
    links = links_;
  }
  for (auto& [name, link] : links) link->Close(reason);
}

bool Dispatcher::CloseAgent(const std::string& name, const std::string& reason) {
  std::shared_ptr<AgentLink> link = LinkFor(name);
  if (!link) return false;
  link->Close(reason);
  return true;
}

}  // namespace tachyon::controller
