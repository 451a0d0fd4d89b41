#include "controller/event_bus.h"

#include "absl/time/clock.h"
#include "common/log.h"

namespace tachyon::controller {
namespace {

// > 0 while this thread is handing events to subscribers (and so holds fan_mu_).
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

EventBus::EventBus(store::Store* store) : store_(store) {
  // Nothing is pending yet, so everything in the log counts as delivered.
  auto seq = store_->LastEventSeq();
  if (seq.ok()) {
    absl::MutexLock lock(&fan_mu_);
    last_seq_ = *seq;
  } else {
    TLOG(Error) << "event log: cannot read the last seq: " << seq.status();
  }
  thread_ = std::thread([this] { SyncLoop(); });
}

EventBus::~EventBus() {
  {
    absl::MutexLock lock(&q_mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  DeliverPending();  // whatever was committed while the thread wound down
}

uint64_t EventBus::NewTicketLocked() { return ++last_ticket_; }

absl::Status EventBus::Atomically(const std::function<absl::Status(const Emit&)>& fn) {
  absl::MutexLock lock(&mu_);
  // The sync thread makes these commits durable before anyone sees their effects.
  store::DeferSync defer;
  std::vector<store::EventRecord> emitted;
  Emit emit = [&](store::EventRecord event) -> absl::StatusOr<store::EventRecord> {
    auto stored = store_->AppendEvent(std::move(event));
    if (stored.ok()) emitted.push_back(*stored);
    return stored;
  };
  absl::Status status = fn(emit);
  // Failed: the store rolled back or never wrote these events, and their seqs are reused.
  if (!status.ok() || emitted.empty()) return status;
  absl::MutexLock q(&q_mu_);
  uint64_t ticket = NewTicketLocked();
  for (auto& event : emitted) events_.push_back({ticket, std::move(event)});
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

void EventBus::WhenDurable(std::function<void()> fn) {
  absl::MutexLock q(&q_mu_);
  callbacks_.push_back({NewTicketLocked(), std::move(fn)});
}

void EventBus::Flush() {
  absl::MutexLock q(&q_mu_);
  uint64_t ticket = NewTicketLocked();
  if (stopping_) {
    q_mu_.Unlock();
    DeliverPending();
    q_mu_.Lock();
    return;
  }
  struct Until {
    const uint64_t* delivered;
    uint64_t ticket;
  } until{&delivered_ticket_, ticket};
  q_mu_.Await(absl::Condition(
      +[](Until* u) { return *u->delivered >= u->ticket; }, &until));
}

void EventBus::SyncLoop() {
  while (true) {
    {
      absl::MutexLock q(&q_mu_);
      // Work is any ticket not yet delivered: events, callbacks or a Flush.
      q_mu_.Await(absl::Condition(
          +[](EventBus* b) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return b->stopping_ || b->last_ticket_ > b->delivered_ticket_;
          },
          this));
      if (stopping_ && last_ticket_ == delivered_ticket_) return;
    }
    if (!DeliverPending()) {
      absl::MutexLock q(&q_mu_);
      if (stopping_) return;  // the destructor tries once more
    }
  }
}

bool EventBus::DeliverPending() {
  std::lock_guard<std::mutex> one(deliver_mu_);
  uint64_t target;
  {
    absl::MutexLock q(&q_mu_);
    target = last_ticket_;
    if (target == delivered_ticket_) return true;
  }
  // Covers every commit made before this call, so every ticket up to `target`.
  absl::Status synced = store_->SyncToDisk();
  if (!synced.ok()) {
    // Nothing is delivered or acked until it is on disk; retry without spinning.
    TLOG(Error) << "event log: cannot sync the store to disk: " << synced << "; retrying";
    absl::SleepFor(absl::Milliseconds(100));
    return false;
  }
  std::vector<store::EventRecord> events;
  std::vector<std::function<void()>> callbacks;
  {
    absl::MutexLock q(&q_mu_);
    while (!events_.empty() && events_.front().ticket <= target) {
      events.push_back(std::move(events_.front().event));
      events_.pop_front();
    }
    while (!callbacks_.empty() && callbacks_.front().ticket <= target) {
      callbacks.push_back(std::move(callbacks_.front().fn));
      callbacks_.pop_front();
    }
  }
  if (!events.empty()) {
    absl::MutexLock fan(&fan_mu_);
    ++t_fanout_depth;
    for (const auto& event : events) {
      last_seq_ = event.seq;
      for (auto& [id, subscriber] : subscribers_) {
        if (!unsubscribed_in_fanout_.count(id)) subscriber(event);
      }
    }
    --t_fanout_depth;
    for (uint64_t id : unsubscribed_in_fanout_) subscribers_.erase(id);
    unsubscribed_in_fanout_.clear();
  }
  for (auto& fn : callbacks) fn();
  absl::MutexLock q(&q_mu_);
  delivered_ticket_ = target;
  return true;
}

uint64_t EventBus::Subscribe(Subscriber subscriber, uint64_t* id) {
  absl::MutexLock lock(&fan_mu_);
  *id = next_id_++;
  subscribers_.emplace(*id, std::move(subscriber));
  return last_seq_;
}

void EventBus::Unsubscribe(uint64_t id) {
  if (t_fanout_depth > 0) {
    // Called from inside a subscriber (a stream ending as it was written to): this thread
    // holds fan_mu_, and the map is being walked. Drop the subscriber after the walk.
    unsubscribed_in_fanout_.insert(id);
    return;
  }
  absl::MutexLock lock(&fan_mu_);
  subscribers_.erase(id);
}

}  // namespace tachyon::controller
