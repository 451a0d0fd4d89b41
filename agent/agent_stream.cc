#include "agent/agent_stream.h"

#include "proto/job_state.h"

namespace tachyon::agent {

v1::AgentMessage OutboxEventToProto(const OutboxEvent& e) {
  v1::AgentMessage m;
  auto* ev = m.mutable_event();
  ev->set_seq(e.seq);
  ev->set_jid(e.event.jid);
  ev->set_kind(e.event.kind == jobs::JobEvent::Kind::kStarted ? v1::JobEvent::KIND_STARTED
                                                              : v1::JobEvent::KIND_FINISHED);
  ev->set_state(wire::JobStateFromName(jobs::JobStateName(e.event.state)));
  ev->set_ts_unix_ms(e.ts_unix_ms);
  if (e.event.kind == jobs::JobEvent::Kind::kFinished) {
    ev->set_result_json(
        e.event.result.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }
  return m;
}

v1::AgentMessage ActionResultMessage(const std::string& jid, const absl::Status& st) {
  v1::AgentMessage m;
  auto* r = m.mutable_action_result();
  r->set_jid(jid);
  r->set_ok(st.ok());
  r->set_found(!absl::IsNotFound(st));
  if (!st.ok()) r->set_error(std::string(st.message()));
  return m;
}

void AgentStreamReactor::Enqueue(v1::AgentMessage message) {
  const v1::AgentMessage* next = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    queue_.push_back(std::move(message));
    if (!writing_) {
      writing_ = true;
      next = &queue_.front();
    }
  }
  if (next) StartWrite(next);
}

void AgentStreamReactor::OnWriteDone(bool ok) {
  const v1::AgentMessage* next = nullptr;
  {
    absl::MutexLock lock(&mu_);
    queue_.pop_front();
    if (!ok) {
      closed_ = true;
      queue_.clear();
    }
    if (!queue_.empty()) {
      next = &queue_.front();
    } else {
      writing_ = false;
    }
  }
  if (next) StartWrite(next);
}

void AgentStreamReactor::OnReadDone(bool ok) {
  if (!ok) {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    return;  // the status arrives in OnDone
  }
  Handle(in_);
  StartRead(&in_);
}

}  // namespace tachyon::agent
