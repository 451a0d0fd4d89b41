#include "controller/event_bus.h"

#include "common/log.h"

namespace tachyon::controller {
namespace {

// > 0 while this thread is handing events to subscribers (and so holds the bus lock).
thread_local int t_fanout_depth = 0;

}  // namespace

store::EventRecord MakeEvent(std::string type, const std::string& host, const std::string& jid,
                             const nlohmann::json& data, const std::string& rollout) {
  store::EventRecord e;
  e.ts = absl::Now();
  e.type = std::move(type);
  e.host = host;
  e.jid = jid;
  e.rollout = rollout;
  e.data_json = data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return e;
}

void EventBus::LoadLastSeqLocked() {
  if (last_seq_known_) return;
  auto seq = store_->LastEventSeq();
  if (seq.ok()) {
    last_seq_ = *seq;
    last_seq_known_ = true;
  }
}

absl::Status EventBus::Atomically(const std::function<absl::Status(const Emit&)>& fn) {
  absl::MutexLock lock(&mu_);
  std::vector<store::EventRecord> emitted;
  Emit emit = [&](store::EventRecord event) -> absl::StatusOr<store::EventRecord> {
    auto stored = store_->AppendEvent(std::move(event));
    if (stored.ok()) emitted.push_back(*stored);
    return stored;
  };
  absl::Status status = fn(emit);
  if (!status.ok()) {
    // The store rolled back or never wrote these; the next reader reloads the true last seq.
    if (!emitted.empty()) last_seq_known_ = false;
    return status;
  }
  ++t_fanout_depth;
  for (const auto& event : emitted) {
    last_seq_ = event.seq;
    last_seq_known_ = true;
    for (auto& [id, subscriber] : subscribers_) {
      if (!unsubscribed_in_fanout_.count(id)) subscriber(event);
    }
  }
  --t_fanout_depth;
  for (uint64_t id : unsubscribed_in_fanout_) subscribers_.erase(id);
  unsubscribed_in_fanout_.clear();
  return absl::OkStatus();
}

absl::StatusOr<store::EventRecord> EventBus::Publish(store::EventRecord event) {
  store::EventRecord out;
  absl::Status status = Atomically([&](const Emit& emit) -> absl::Status {
    auto stored = emit(std::move(event));
    if (!stored.ok()) return stored.status();
    out = *stored;
    return absl::OkStatus();
  });
  if (!status.ok()) {
    TLOG(Error) << "event log append failed: " << status;
    return status;
  }
  return out;
}

uint64_t EventBus::Subscribe(Subscriber subscriber, uint64_t* id) {
  absl::MutexLock lock(&mu_);
  LoadLastSeqLocked();
  *id = next_id_++;
  subscribers_.emplace(*id, std::move(subscriber));
  return last_seq_;
}

void EventBus::Unsubscribe(uint64_t id) {
  if (t_fanout_depth > 0) {
    // Called from inside a subscriber (a stream ending as it was written to): this thread
    // holds the lock, and the map is being walked. Drop the subscriber after the walk.
    unsubscribed_in_fanout_.insert(id);
    return;
  }
  absl::MutexLock lock(&mu_);
  subscribers_.erase(id);
}

}  // namespace tachyon::controller
