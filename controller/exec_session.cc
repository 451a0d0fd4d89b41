#include "controller/exec_session.h"

#include <deque>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace tachyon::controller {

using nlohmann::json;

absl::StatusOr<std::shared_ptr<ExecSession>> ExecSession::Create(Dispatcher* dispatcher,
                                                                 EventBus* bus, ExecParams params) {
  auto universe = dispatcher->Universe();
  if (!universe.ok()) return universe.status();
  auto hosts = rollout::MatchPattern(params.pattern, *universe);
  if (!hosts.ok()) return hosts.status();
  if (hosts->empty()) {
    return absl::NotFoundError(absl::StrCat("no hosts match pattern '", params.pattern,
                                            "' (see `tachyon agents` for known hosts and groups)"));
  }
  if (params.forks < 1) params.forks = 5;
  return std::shared_ptr<ExecSession>(
      new ExecSession(dispatcher, bus, std::move(params), *std::move(hosts)));
}

ExecSession::ExecSession(Dispatcher* dispatcher, EventBus* bus, ExecParams params,
                         std::vector<std::string> hosts)
    : dispatcher_(dispatcher),
      bus_(bus),
      params_(std::move(params)),
      hosts_(std::move(hosts)),
      host_set_(hosts_.begin(), hosts_.end()) {}

ExecSession::~ExecSession() {
  if (thread_.joinable()) {
    // The last reference may be dropped by the session thread itself.
    if (thread_.get_id() == std::this_thread::get_id()) {
      thread_.detach();
    } else {
      thread_.join();
    }
  }
}

void ExecSession::Start(UpdateFn on_update, DoneFn on_done) {
  on_update_ = std::move(on_update);
  on_done_ = std::move(on_done);
  std::weak_ptr<ExecSession> weak = shared_from_this();
  // Subscribe before starting any job, so no completion can slip past.
  bus_->Subscribe(
      [weak](const store::EventRecord& e) {
        if (e.type != "job_finished") return;
        auto self = weak.lock();
        if (!self || !self->host_set_.count(e.host)) return;
        // Filtering by jid happens on the session thread: it may not know the jid yet.
        std::lock_guard<std::mutex> lock(self->mu_);
        self->finished_.push_back(e);
        self->cv_.notify_all();
      },
      &subscription_);
  auto self = shared_from_this();
  thread_ = std::thread([self] { self->Run(); });
}

void ExecSession::Cancel() {
  {
    // Waits for a callback running on another thread; re-entrant when a callback itself leads
    // here (its reactor finishing). The callbacks are flagged off, not destroyed, since one
    // may be on this very stack.
    std::lock_guard<std::recursive_mutex> lock(callback_mu_);
    callbacks_off_ = true;
  }
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = true;
  cv_.notify_all();
}

void ExecSession::Emit(const ExecUpdate& update) {
  std::lock_guard<std::recursive_mutex> lock(callback_mu_);
  if (!callbacks_off_ && on_update_) on_update_(update);
}

void ExecSession::Run() {
  absl::Status final_status = absl::OkStatus();
  size_t next = 0;
  size_t waiting = 0;
  const bool fire_and_forget = params_.poll_seconds == 0;

  auto launch = [&](const std::string& host) {
    if (!dispatcher_->IsConnected(host)) {
      Emit({host,
            "unreachable",
            "",
            {{"unreachable", true},
             {"changed", false},
             {"msg",
              absl::StrCat("Failed to connect to the host: agent ", host, " is not connected")}}});
      return;
    }
    DispatchRequest req;
    req.module = params_.module;
    req.args_json = params_.args.dump();
    req.timeout_seconds = params_.timeout_seconds;
    // Never hold mu_ here: StartJob takes the bus lock, and the bus calls our subscriber
    // (which takes mu_) while holding it.
    auto jid = dispatcher_->StartJob(host, req);
    if (!jid.ok()) {
      Emit({host, "failed", "", {{"failed", true}, {"msg", jid.status().ToString()}}});
      return;
    }
    jids_.insert(*jid);
    if (fire_and_forget) {
      Emit({host,
            "started",
            *jid,
            {{"ansible_job_id", *jid}, {"started", 1}, {"finished", 0}, {"changed", true}}});
    } else {
      ++waiting;
    }
  };

  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (cancelled_) break;
    }
    // Fill free forks (poll 0 jobs hold none).
    while (next < hosts_.size() &&
           (fire_and_forget || waiting < static_cast<size_t>(params_.forks))) {
      launch(hosts_[next++]);
    }
    if (waiting == 0 && next >= hosts_.size()) break;
    std::deque<store::EventRecord> batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return cancelled_ || !finished_.empty(); });
      if (cancelled_) break;
      batch.swap(finished_);
    }
    // Callbacks run without mu_: the bus's subscriber takes it while holding the bus lock.
    for (store::EventRecord& e : batch) {
      if (!jids_.erase(e.jid)) continue;  // another session's job on one of our hosts
      json data = json::parse(e.data_json, nullptr, false);
      ExecUpdate u;
      u.host = e.host;
      u.jid = e.jid;
      u.status = data.value("status", "failed");
      u.result = data.contains("result") ? data["result"] : json::object();
      --waiting;
      Emit(u);
    }
  }
  bus_->Unsubscribe(subscription_);
  std::lock_guard<std::recursive_mutex> lock(callback_mu_);
  if (!callbacks_off_ && on_done_) on_done_(final_status);
}

}  // namespace tachyon::controller
