#include "controller/control_service.h"

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <set>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/tls.h"
#include "controller/exec_session.h"
#include "controller/rollout/kv_args.h"
#include "proto/job_state.h"

namespace tachyon::controller {
namespace {

namespace v1 = tachyon::v1;
using nlohmann::json;

grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Only operator certificates may use ControlService; the refusal is logged.
grpc::Status CheckOperator(grpc::CallbackServerContext* ctx, const char* method) {
  auto identity = tls::PeerIdentity(*ctx->auth_context());
  if (identity.ok() && identity->role == pki::Role::kOperator) return grpc::Status::OK;
  std::string who = identity.ok() ? absl::StrCat(pki::RoleName(identity->role), "/", identity->name)
                                  : std::string(identity.status().message());
  TLOG(Warning) << "security: ControlService." << method << " refused for " << ctx->peer() << " ("
                << who << "): only operator certificates may call it";
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                      "ControlService accepts only operator certificates");
}

grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* ctx, const grpc::Status& status) {
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

// A server stream with a write queue: one write in flight, Finish exactly once and only when
// no write is outstanding. Deletes itself in OnDone.
template <typename T>
class QueuedWriter : public grpc::ServerWriteReactor<T> {
 public:
  bool Enqueue(T message) {
    const T* next = nullptr;
    {
      absl::MutexLock lock(&mu_);
      if (finishing_) return false;
      queue_.push_back(std::move(message));
      if (!writing_) {
        writing_ = true;
        next = &queue_.front();
      }
    }
    if (next) this->StartWrite(next);
    return true;
  }

  // Finishes after the queued messages are written.
  void FinishAfterQueue(const grpc::Status& status) {
    bool call = false;
    {
      absl::MutexLock lock(&mu_);
      if (finishing_) return;
      finishing_ = true;
      status_ = status;
      call = !writing_;
    }
    if (call) this->Finish(status);
  }

  void OnWriteDone(bool ok) override {
    const T* next = nullptr;
    bool finish = false;
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      queue_.pop_front();
      if (!ok) {
        queue_.clear();
        if (!finishing_) {
          finishing_ = true;
          status_ = grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
        }
      }
      if (!queue_.empty()) {
        next = &queue_.front();
      } else {
        writing_ = false;
        finish = finishing_;
        status = status_;
      }
    }
    if (next) this->StartWrite(next);
    if (finish) this->Finish(status);
  }

 private:
  absl::Mutex mu_;
  std::deque<T> queue_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

class RejectWriter final : public grpc::ServerWriteReactor<v1::ExecUpdate> {
 public:
  explicit RejectWriter(const grpc::Status& s) { Finish(s); }
  void OnDone() override { delete this; }
};

class ExecReactor final : public QueuedWriter<v1::ExecUpdate> {
 public:
  explicit ExecReactor(std::shared_ptr<ExecSession> session) : session_(std::move(session)) {
    session_->Start(
        [this](const ExecUpdate& u) {
          v1::ExecUpdate out;
          out.set_host(u.host);
          out.set_status(u.status);
          out.set_jid(u.jid);
          out.set_result_json(Dump(u.result));
          Enqueue(std::move(out));
        },
        [this](const absl::Status& s) { FinishAfterQueue(ToGrpc(s)); });
  }
  // The CLI went away (Ctrl-C): stop reporting. Started jobs keep running, as in Ansible -P 0.
  void OnCancel() override {
    session_->Cancel();
    FinishAfterQueue(grpc::Status(grpc::StatusCode::CANCELLED, "exec cancelled by the client"));
  }
  void OnDone() override {
    session_->Cancel();
    delete this;
  }

 private:
  std::shared_ptr<ExecSession> session_;
};

// Streams the event log from a seq, then live events. It always reads from the store while
// behind, so memory stays bounded however far back a client starts; once caught up, live
// events are written straight from the bus.
class EventsReactor final : public grpc::ServerWriteReactor<v1::Event>,
                            public std::enable_shared_from_this<EventsReactor> {
 public:
  EventsReactor(store::Store* store, EventBus* bus, const v1::EventsRequest& req)
      : store_(store), bus_(bus), req_(req), cursor_(req.since_seq()) {}

  void Begin() {
    self_ = shared_from_this();
    {
      // Busy before subscribing: a live event delivered before the first read of the store
      // must only wake the pump. Written directly, it would move the cursor past older
      // matching events that only the store read can still return (the first results of a
      // rollout whose watcher subscribed as they were being delivered), and race the pump's
      // own first write.
      absl::MutexLock lock(&mu_);
      busy_ = true;
    }
    if (req_.follow()) {
      std::weak_ptr<EventsReactor> weak = weak_from_this();
      bus_->Subscribe(
          [weak](const store::EventRecord& e) {
            if (auto self = weak.lock()) self->OnLive(e);
          },
          &subscription_);
      subscribed_ = true;
    }
    Pump();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
      // The write is over; if a finish was waiting for it, do it now.
      Act(ReleaseBusy());
      return;
    }
    Action action;
    {
      absl::MutexLock lock(&mu_);
      if (last_write_ends_stream_) {
        // `logs -f`: the job's final event is out; the stream is complete.
        finishing_ = true;
        status_ = grpc::Status::OK;
        busy_ = false;
        action = FinishIfIdleLocked();
      } else {
        action = batch_.empty() ? Action::kPump : NextLocked();
      }
    }
    Act(action);
  }

  void OnCancel() override { FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled")); }

  void OnDone() override {
    if (subscribed_) bus_->Unsubscribe(subscription_);
    self_.reset();
  }

 private:
  // What to do after deciding under the lock. StartWrite and Finish are always called with the
  // lock released: gRPC may run a reaction inline from them.
  enum class Action { kNone, kWrite, kFinish, kPump };

  void Act(Action action) {
    switch (action) {
      case Action::kNone:
        return;
      case Action::kWrite:
        StartWrite(&out_);
        return;
      case Action::kFinish:
        Finish(final_status_);
        return;
      case Action::kPump:
        Pump();
        return;
    }
  }

  bool Matches(const store::EventRecord& e) const {
    return (req_.host().empty() || e.host == req_.host()) &&
           (req_.rollout().empty() || e.rollout == req_.rollout()) &&
           (req_.jid().empty() || e.jid == req_.jid());
  }

  static v1::Event ToProto(const store::EventRecord& e) {
    v1::Event out;
    out.set_seq(e.seq);
    out.set_ts(Rfc3339(e.ts));
    out.set_type(e.type);
    out.set_host(e.host);
    out.set_jid(e.jid);
    out.set_rollout(e.rollout);
    out.set_data_json(e.data_json);
    return out;
  }

  // Runs with busy_ set (no write in flight): reads the next page, or goes idle, or finishes.
  void Pump() {
    while (true) {
      uint64_t since;
      {
        absl::MutexLock lock(&mu_);
        if (finishing_) {
          busy_ = false;
          return Act(FinishIfIdleLocked());
        }
        since = cursor_;
        wake_ = false;
      }
      store::EventFilter filter;
      filter.since_seq = since;
      filter.host = req_.host();
      filter.rollout = req_.rollout();
      filter.jid = req_.jid();
      filter.limit = kEventPageSize;
      auto page = store_->ReadEvents(filter);
      Action action = Action::kNone;
      {
        absl::MutexLock lock(&mu_);
        if (!page.ok()) {
          finishing_ = true;
          status_ = ToGrpc(page.status());
          busy_ = false;
          action = FinishIfIdleLocked();
        } else if (!page->empty()) {
          for (auto& e : *page) batch_.push_back(ToProto(e));
          action = NextLocked();
        } else if (wake_) {
          continue;  // something was published while we read
        } else if (!req_.follow()) {
          finishing_ = true;
          status_ = grpc::Status::OK;
          busy_ = false;
          action = FinishIfIdleLocked();
        } else {
          busy_ = false;  // idle and caught up: OnLive writes directly
          // A cancel that arrived while we read found us busy and left the Finish to us.
          if (finishing_) action = FinishIfIdleLocked();
        }
      }
      return Act(action);
    }
  }

  Action NextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finishing_) {
      busy_ = false;
      return FinishIfIdleLocked();
    }
    out_ = std::move(batch_.front());
    batch_.pop_front();
    cursor_ = out_.seq();
    NoteLastLocked(out_);
    return Action::kWrite;
  }

  void NoteLastLocked(const v1::Event& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    last_write_ends_stream_ =
        req_.until_finished() &&
        ((!req_.jid().empty() && e.jid() == req_.jid() && e.type() == "job_finished") ||
         (req_.jid().empty() && !req_.rollout().empty() && e.rollout() == req_.rollout() &&
          (e.type() == "rollout_finished" || e.type() == "rollout_aborted")));
  }

  Action ReleaseBusy() {
    absl::MutexLock lock(&mu_);
    busy_ = false;
    return FinishIfIdleLocked();
  }

  void OnLive(const store::EventRecord& e) {
    Action action = Action::kNone;
    {
      absl::MutexLock lock(&mu_);
      if (finishing_ || e.seq <= cursor_) return;
      if (busy_) {
        wake_ = true;  // the pump re-reads the store when it is done
        return;
      }
      cursor_ = e.seq;
      if (!Matches(e)) return;
      busy_ = true;
      out_ = ToProto(e);
      NoteLastLocked(out_);
      action = Action::kWrite;
    }
    Act(action);
  }

  void FinishOnce(const grpc::Status& status) {
    Action action;
    {
      absl::MutexLock lock(&mu_);
      if (finishing_) return;
      finishing_ = true;
      status_ = status;
      action = FinishIfIdleLocked();
    }
    Act(action);
  }

  Action FinishIfIdleLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finish_called_ || busy_) return Action::kNone;
    finish_called_ = true;
    final_status_ = status_;
    return Action::kFinish;
  }

  store::Store* store_;
  EventBus* bus_;
  const v1::EventsRequest req_;
  std::shared_ptr<EventsReactor> self_;
  uint64_t subscription_ = 0;
  bool subscribed_ = false;

  absl::Mutex mu_;
  uint64_t cursor_ ABSL_GUARDED_BY(mu_);
  bool busy_ ABSL_GUARDED_BY(mu_) = false;  // a write or a store read is under way
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_called_ ABSL_GUARDED_BY(mu_) = false;
  bool last_write_ends_stream_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::Event> batch_ ABSL_GUARDED_BY(mu_);
  v1::Event out_;              // the write in flight; touched only while busy_
  grpc::Status final_status_;  // set once, before Finish
};

class RejectEvents final : public grpc::ServerWriteReactor<v1::Event> {
 public:
  explicit RejectEvents(const grpc::Status& s) { Finish(s); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::ServerUnaryReactor* ControlServiceImpl::ListAgents(grpc::CallbackServerContext* ctx,
                                                         const v1::ListAgentsRequest* req,
                                                         v1::ListAgentsResponse* resp) {
  if (auto st = CheckOperator(ctx, "ListAgents"); !st.ok()) return Done(ctx, st);
  auto agents = dispatcher_->ListAgents();
  if (!agents.ok()) return Done(ctx, ToGrpc(agents.status()));
  std::set<std::string> revoked;
  if (options_.authority != nullptr) {
    auto names = options_.authority->RevokedNames();
    if (!names.ok()) return Done(ctx, ToGrpc(names.status()));
    revoked = std::move(*names);
  }
  // Every agent, plus names revoked before they ever connected (so the operator sees them),
  // in name order after `req->after` (null: revoked, never connected). Only the page that is
  // sent gets built, not a copy of every remaining agent's facts.
  std::map<std::string, const AgentView*> names;
  for (const auto& a : *agents) {
    if (a.record.name > req->after()) names.emplace(a.record.name, &a);
  }
  for (const auto& name : revoked) {
    if (name > req->after()) names.emplace(name, nullptr);  // kept when the agent is listed
  }
  size_t bytes = 0;
  for (const auto& [name, agent] : names) {
    v1::AgentInfo info;
    info.set_name(name);
    info.set_revoked(revoked.count(name) > 0);
    if (agent == nullptr) {
      info.set_facts_json("{}");
    } else {
      info.set_connected(agent->connected);
      for (const auto& g : agent->record.groups) info.add_groups(g);
      info.set_version(agent->record.version);
      info.set_last_seen(agent->connected ? Rfc3339(absl::Now())
                                          : Rfc3339(agent->record.last_seen));
      info.set_facts_json(agent->record.facts_json);
    }
    size_t size = info.ByteSizeLong();
    if (resp->agents_size() > 0 && bytes + size > options_.list_agents_page_bytes) {
      resp->set_next_after(resp->agents(resp->agents_size() - 1).name());
      break;
    }
    bytes += size;
    *resp->add_agents() = std::move(info);
  }
  return Done(ctx, grpc::Status::OK);
}

grpc::ServerWriteReactor<v1::ExecUpdate>* ControlServiceImpl::Exec(grpc::CallbackServerContext* ctx,
                                                                   const v1::ExecRequest* req) {
  if (auto st = CheckOperator(ctx, "Exec"); !st.ok()) return new RejectWriter(st);
  auto invalid = [](std::string msg) {
    return new RejectWriter(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::move(msg)));
  };
  if (req->pattern().empty()) return invalid("a host pattern is required");
  if (req->pattern().size() > kMaxPatternBytes) return invalid("host pattern is too long");
  if (req->args().size() > kMaxArgsBytes) {
    return invalid(absl::StrCat("module arguments are ", req->args().size(),
                                " bytes; the limit is ", kMaxArgsBytes));
  }
  if (static_cast<size_t>(req->argv_size()) > kMaxArgv) return invalid("too many argv words");

  ExecParams params;
  params.pattern = req->pattern();
  params.module = req->module().empty() ? "command" : req->module();
  if (req->argv_size() > 0) {
    if (!req->args().empty())
      return invalid("give the command either with -a or after --, not both");
    params.args = {{"argv", json::array()}};
    for (const auto& w : req->argv()) params.args["argv"].push_back(w);
  } else {
    auto args = rollout::ParseModuleArgs(params.module, req->args());
    if (!args.ok()) return invalid(std::string(args.status().message()));
    params.args = *std::move(args);
  }
  if (params.args.dump().size() > kMaxArgsBytes) return invalid("module arguments exceed 1 MiB");
  params.timeout_seconds =
      req->async_seconds() > 0 ? req->async_seconds() : options_.default_timeout_seconds;
  params.poll_seconds = req->poll_seconds();
  params.forks = req->forks() > 0 ? static_cast<int>(req->forks()) : 5;

  auto session = ExecSession::Create(dispatcher_, bus_, std::move(params));
  if (!session.ok()) return new RejectWriter(ToGrpc(session.status()));
  return new ExecReactor(*std::move(session));
}

grpc::ServerUnaryReactor* ControlServiceImpl::JobStatus(grpc::CallbackServerContext* ctx,
                                                        const v1::JobRequest* req,
                                                        v1::JobStatusResponse* resp) {
  if (auto st = CheckOperator(ctx, "JobStatus"); !st.ok()) return Done(ctx, st);
  resp->set_jid(req->jid());
  auto status = dispatcher_->JobStatus(req->jid());
  if (absl::IsNotFound(status.status())) {
    return Done(ctx, grpc::Status(grpc::StatusCode::NOT_FOUND, "could not find job"));
  }
  if (!status.ok()) return Done(ctx, ToGrpc(status.status()));
  resp->set_host(status->first.host);
  resp->set_state(wire::JobStateFromName(status->first.state));
  resp->set_result_json(Dump(status->second));
  return Done(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* ControlServiceImpl::KillJob(grpc::CallbackServerContext* ctx,
                                                      const v1::JobRequest* req,
                                                      v1::JobActionResponse* resp) {
  if (auto st = CheckOperator(ctx, "KillJob"); !st.ok()) return Done(ctx, st);
  resp->set_jid(req->jid());
  auto seq = store_->LastEventSeq();
  if (seq.ok()) resp->set_event_seq(*seq);
  auto job = dispatcher_->KillJob(req->jid());
  if (!job.ok()) return Done(ctx, ToGrpc(job.status()));
  resp->set_host(job->host);
  resp->set_state(wire::JobStateFromName(job->state));
  TLOG(Info) << "kill requested for job " << req->jid() << " on " << job->host;
  return Done(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* ControlServiceImpl::CleanupJob(grpc::CallbackServerContext* ctx,
                                                         const v1::JobRequest* req,
                                                         v1::JobActionResponse* resp) {
  if (auto st = CheckOperator(ctx, "CleanupJob"); !st.ok()) return Done(ctx, st);
  resp->set_jid(req->jid());
  auto job = dispatcher_->CleanupJob(req->jid());
  if (!job.ok()) return Done(ctx, ToGrpc(job.status()));
  resp->set_host(job->host);
  resp->set_state(wire::JobStateFromName(job->state));
  resp->set_result_json(Dump({{"ansible_job_id", req->jid()},
                              {"erased", req->jid()},
                              {"changed", false},
                              {"started", 1},
                              {"finished", 1}}));
  return Done(ctx, grpc::Status::OK);
}

grpc::ServerWriteReactor<v1::Event>* ControlServiceImpl::Events(grpc::CallbackServerContext* ctx,
                                                                const v1::EventsRequest* req) {
  if (auto st = CheckOperator(ctx, "Events"); !st.ok()) return new RejectEvents(st);
  auto reactor = std::make_shared<EventsReactor>(store_, bus_, *req);
  reactor->Begin();
  return reactor.get();
}

static void FillRolloutInfo(const store::RolloutRecord& r, v1::RolloutInfo* out) {
  out->set_id(r.id);
  out->set_state(r.state);
  out->set_playbook(r.playbook);
  out->set_created(Rfc3339(r.created));
  out->set_updated(Rfc3339(r.updated));
  out->set_rc(r.rc);
  out->set_recap_json(r.recap_json);
}

grpc::ServerUnaryReactor* ControlServiceImpl::StartRollout(grpc::CallbackServerContext* ctx,
                                                           const v1::StartRolloutRequest* req,
                                                           v1::StartRolloutResponse* resp) {
  if (auto st = CheckOperator(ctx, "StartRollout"); !st.ok()) return Done(ctx, st);
  RolloutSpec spec;
  spec.playbook = req->playbook();
  spec.inventories.assign(req->inventories().begin(), req->inventories().end());
  spec.limit = req->limit();
  spec.forks = req->forks() > 0 ? static_cast<int>(req->forks()) : 5;
  spec.extra_vars.assign(req->extra_vars().begin(), req->extra_vars().end());
  spec.check = req->check();
  spec.diff = req->diff();
  spec.tags.assign(req->tags().begin(), req->tags().end());
  spec.skip_tags.assign(req->skip_tags().begin(), req->skip_tags().end());
  spec.verbosity = static_cast<int>(req->verbosity());
  spec.origin = req->origin();
  std::vector<BundleFile> files;
  files.reserve(static_cast<size_t>(req->files_size()));
  for (const auto& f : req->files()) files.push_back({f.path(), f.content(), f.mode()});
  auto id = rollouts_->Start(std::move(spec), std::move(files));
  if (!id.ok()) return Done(ctx, ToGrpc(id.status()));
  resp->set_rollout_id(*id);
  return Done(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* ControlServiceImpl::ListRollouts(grpc::CallbackServerContext* ctx,
                                                           const v1::ListRolloutsRequest*,
                                                           v1::ListRolloutsResponse* resp) {
  if (auto st = CheckOperator(ctx, "ListRollouts"); !st.ok()) return Done(ctx, st);
  auto list = store_->ListRollouts({});
  if (!list.ok()) return Done(ctx, ToGrpc(list.status()));
  for (const auto& r : *list) FillRolloutInfo(r, resp->add_rollouts());
  return Done(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* ControlServiceImpl::GetRollout(grpc::CallbackServerContext* ctx,
                                                         const v1::RolloutRequest* req,
                                                         v1::RolloutInfo* resp) {
  if (auto st = CheckOperator(ctx, "GetRollout"); !st.ok()) return Done(ctx, st);
  auto r = store_->GetRollout(req->id());
  if (!r.ok()) return Done(ctx, ToGrpc(r.status()));
  if (!r->has_value()) {
    return Done(ctx, grpc::Status(grpc::StatusCode::NOT_FOUND, "no rollout " + req->id()));
  }
  FillRolloutInfo(**r, resp);
  return Done(ctx, grpc::Status::OK);
}

namespace {

std::string OperatorName(grpc::CallbackServerContext* ctx) {
  auto identity = tls::PeerIdentity(*ctx->auth_context());
  return identity.ok() ? absl::StrCat("operator/", identity->name) : std::string("operator");
}

}  // namespace

grpc::ServerUnaryReactor* ControlServiceImpl::PauseRollout(grpc::CallbackServerContext* ctx,
                                                           const v1::RolloutRequest* req,
                                                           v1::RolloutInfo* resp) {
  if (auto st = CheckOperator(ctx, "PauseRollout"); !st.ok()) return Done(ctx, st);
  auto r = rollouts_->Pause(req->id(), OperatorName(ctx));
  if (!r.ok()) return Done(ctx, ToGrpc(r.status()));
  FillRolloutInfo(*r, resp);
  return Done(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* ControlServiceImpl::ResumeRollout(grpc::CallbackServerContext* ctx,
                                                            const v1::RolloutRequest* req,
                                                            v1::RolloutInfo* resp) {
  if (auto st = CheckOperator(ctx, "ResumeRollout"); !st.ok()) return Done(ctx, st);
  auto r = rollouts_->Resume(req->id(), OperatorName(ctx));
  if (!r.ok()) return Done(ctx, ToGrpc(r.status()));
  FillRolloutInfo(*r, resp);
  return Done(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* ControlServiceImpl::AbortRollout(grpc::CallbackServerContext* ctx,
                                                           const v1::RolloutRequest* req,
                                                           v1::RolloutInfo* resp) {
  if (auto st = CheckOperator(ctx, "AbortRollout"); !st.ok()) return Done(ctx, st);
  auto r = rollouts_->Abort(req->id(), req->kill(), OperatorName(ctx));
  if (!r.ok()) return Done(ctx, ToGrpc(r.status()));
  FillRolloutInfo(*r, resp);
  return Done(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* ControlServiceImpl::RevokeAgent(grpc::CallbackServerContext* ctx,
                                                          const v1::RevokeAgentRequest* req,
                                                          v1::RevokeAgentResponse* resp) {
  if (auto st = CheckOperator(ctx, "RevokeAgent"); !st.ok()) return Done(ctx, st);
  if (options_.authority == nullptr) {
    return Done(ctx, grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "revocation is not enabled"));
  }
  // Stored first, then the open stream is closed: a stream starting meanwhile checks the store
  // again once it is registered, so one of the two always sees the other.
  if (auto st = options_.authority->Revoke(req->name()); !st.ok()) return Done(ctx, ToGrpc(st));
  bool was_connected = dispatcher_->CloseAgent(req->name(), "the agent's certificate was revoked");
  TLOG(Warning) << "security: agent '" << req->name() << "' revoked by " << OperatorName(ctx)
                << (was_connected ? "; its stream is closed" : "");
  resp->set_name(req->name());
  resp->set_was_connected(was_connected);
  return Done(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* ControlServiceImpl::CreateToken(grpc::CallbackServerContext* ctx,
                                                          const v1::CreateTokenRequest* req,
                                                          v1::CreateTokenResponse* resp) {
  if (auto st = CheckOperator(ctx, "CreateToken"); !st.ok()) return Done(ctx, st);
  if (options_.authority == nullptr) {
    return Done(ctx, grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "enrollment is not enabled"));
  }
  CertAuthority::TokenRequest tr;
  tr.name = req->name();
  if (req->ttl_ms() > 0) {
    tr.ttl =
        absl::Milliseconds(static_cast<int64_t>(std::min<uint64_t>(req->ttl_ms(), 1ull << 50)));
  } else if (req->ttl_seconds() > 0) {
    tr.ttl =
        absl::Seconds(static_cast<int64_t>(std::min<uint64_t>(req->ttl_seconds(), 1ull << 40)));
  }
  tr.uses = req->uses() == 0 ? 1 : req->uses();
  tr.replace = req->replace();
  auto token = options_.authority->CreateToken(tr);
  if (!token.ok()) return Done(ctx, ToGrpc(token.status()));
  resp->set_token(token->token);
  resp->set_id(token->id);
  resp->set_expires(Rfc3339(token->expires));
  return Done(ctx, grpc::Status::OK);
}

}  // namespace tachyon::controller
