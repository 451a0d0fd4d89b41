#include "controller/event_bus.h"

#include "common/log.h"

namespace tachyon::controller {

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
  for (const auto& event : emitted) {
    last_seq_ = event.seq;
    last_seq_known_ = true;
    for (auto& [id, subscriber] : subscribers_) subscriber(event);
  }
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
  absl::MutexLock lock(&mu_);
  subscribers_.erase(id);
}

}  // namespace tachyon::controller
