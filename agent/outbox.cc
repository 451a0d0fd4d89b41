#include "agent/outbox.h"

#include <algorithm>

namespace tachyon::agent {

void Outbox::Add(const jobs::JobEvent& event, int64_t ts_unix_ms) {
  absl::MutexLock lock(&mu_);
  events_.push_back({0, event, ts_unix_ms});
  if (numbering_) NumberLocked();
}

void Outbox::NumberLocked() {
  for (auto& e : events_) {
    if (e.seq == 0) e.seq = next_seq_++;
  }
}

std::vector<OutboxEvent> Outbox::OnWelcome(uint64_t controller_last_seq) {
  absl::MutexLock lock(&mu_);
  if (!numbering_) {
    next_seq_ = std::max<uint64_t>(next_seq_, controller_last_seq + 1);
    numbering_ = true;
  } else {
    while (!events_.empty() && events_.front().seq != 0 && events_.front().seq <= controller_last_seq) {
      events_.pop_front();
    }
    next_seq_ = std::max<uint64_t>(next_seq_, controller_last_seq + 1);
  }
  NumberLocked();
  live_ = true;
  sent_upto_ = events_.size();
  return {events_.begin(), events_.end()};
}

std::vector<OutboxEvent> Outbox::TakeNew() {
  absl::MutexLock lock(&mu_);
  if (!live_) return {};
  std::vector<OutboxEvent> out(events_.begin() + static_cast<std::ptrdiff_t>(sent_upto_), events_.end());
  sent_upto_ = events_.size();
  return out;
}

void Outbox::Ack(uint64_t seq) {
  absl::MutexLock lock(&mu_);
  while (!events_.empty() && events_.front().seq != 0 && events_.front().seq <= seq) {
    events_.pop_front();
    if (sent_upto_ > 0) --sent_upto_;
  }
}

void Outbox::OnDisconnect() {
  absl::MutexLock lock(&mu_);
  live_ = false;
  sent_upto_ = 0;
}

size_t Outbox::size() const {
  absl::MutexLock lock(&mu_);
  return events_.size();
}

}  // namespace tachyon::agent
