#pragma once

// Job events waiting for the controller's ack. Each event gets a per-agent sequence number that
// the controller uses to drop duplicates; an event leaves the outbox only when acked, and
// everything unacked is sent again after a reconnect.
//
// Numbering starts only once the controller said (in its welcome) which seq it stored last, so
// a restarted agent never reuses numbers the controller has already seen.

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "agent/jobs/job_engine.h"

namespace tachyon::agent {

struct OutboxEvent {
  uint64_t seq = 0;  // 0 until numbered
  jobs::JobEvent event;
  int64_t ts_unix_ms = 0;
};

class Outbox {
 public:
  void Add(const jobs::JobEvent& event, int64_t ts_unix_ms);
  // A (re)connection was welcomed: drop what the controller has, number the rest, and return
  // every event to send, in order.
  std::vector<OutboxEvent> OnWelcome(uint64_t controller_last_seq);
  // Events added while connected and welcomed: numbered at once and returned for sending.
  std::vector<OutboxEvent> TakeNew();
  void Ack(uint64_t seq);
  void OnDisconnect();
  size_t size() const;

 private:
  void NumberLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::deque<OutboxEvent> events_ ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  bool numbering_ ABSL_GUARDED_BY(mu_) = false;
  bool live_ ABSL_GUARDED_BY(mu_) = false;
  size_t sent_upto_ ABSL_GUARDED_BY(mu_) = 0;  // events_[0, sent_upto_) were handed out
};

}  // namespace tachyon::agent
