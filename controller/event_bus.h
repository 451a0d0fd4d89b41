#pragma once

// The controller's event log with live fan-out: every event is stored (getting its global,
// gap-free seq) and then handed to subscribers in seq order. Subscribers must not block and
// must not publish; they may Unsubscribe (themselves or others) from inside the callback.
//
// Lock order: the bus lock is always taken before the store's. Work that changes the store
// and records events in one transaction runs inside Atomically().

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "controller/store/store.h"
#include "nlohmann/json.hpp"

namespace tachyon::controller {

// An event record stamped now; `data` becomes data_json (invalid UTF-8 replaced).
store::EventRecord MakeEvent(std::string type, const std::string& host, const std::string& jid,
                             const nlohmann::json& data, const std::string& rollout = "");

class EventBus {
 public:
  using Subscriber = std::function<void(const store::EventRecord&)>;
  // Appends one event to the log; usable only inside Atomically().
  using Emit = std::function<absl::StatusOr<store::EventRecord>(store::EventRecord)>;

  explicit EventBus(store::Store* store) : store_(store) {}

  // Stores one event, then notifies every subscriber. Returns the stored record.
  absl::StatusOr<store::EventRecord> Publish(store::EventRecord event);

  // Runs `fn` under the bus lock. Events it emits reach subscribers only if it returns OK
  // (a failed store transaction rolls them back, so nobody may see them).
  absl::Status Atomically(const std::function<absl::Status(const Emit&)>& fn);

  // Subscribes and returns the last seq stored at that instant: every later event reaches the
  // subscriber, so "read the log up to that seq, then take live events" misses nothing.
  uint64_t Subscribe(Subscriber subscriber, uint64_t* id);
  void Unsubscribe(uint64_t id);

 private:
  void LoadLastSeqLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  store::Store* store_;
  absl::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t last_seq_ ABSL_GUARDED_BY(mu_) = 0;
  bool last_seq_known_ ABSL_GUARDED_BY(mu_) = false;
  std::map<uint64_t, Subscriber> subscribers_ ABSL_GUARDED_BY(mu_);
  // Unsubscribe() calls made by subscribers during a fan-out (the caller holds mu_ then).
  std::set<uint64_t> unsubscribed_in_fanout_;
};

}  // namespace tachyon::controller
