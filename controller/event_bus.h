#pragma once

// The controller's event log with live fan-out: every event is stored (getting its global,
// gap-free seq) and then handed to subscribers in seq order. Subscribers must not block and
// must not publish; they may Unsubscribe (themselves or others) from inside the callback.
//
// Group commit. Commits do not wait for the disk (the store runs SQLite with
// synchronous=NORMAL); the bus's sync thread makes them durable in batches (Store::SyncToDisk,
// one fdatasync of the WAL for every commit since the last one) and only then hands their
// events to subscribers and runs the WhenDurable callbacks queued behind them. So nobody ever
// sees an event, an ack or a dispatch that a power loss could take back, and a burst of N
// commits costs one fsync, not N. Callers needing durability before acting outside the
// controller (acking an agent's event, sending a job to an agent) queue that action with
// WhenDurable instead of waiting.
//
// Lock order: the bus lock is always taken before the store's. Work that changes the store
// and records events in one transaction runs inside Atomically().

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>
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

  // Starts the sync thread.
  explicit EventBus(store::Store* store);
  // Delivers what is pending, then stops the sync thread.
  ~EventBus();
  EventBus(const EventBus&) = delete;
  EventBus& operator=(const EventBus&) = delete;

  // Stores one event; subscribers get it once it is on disk. Returns the stored record.
  absl::StatusOr<store::EventRecord> Publish(store::EventRecord event);

  // Runs `fn` under the bus lock. Events it emits reach subscribers only if it returns OK
  // (a failed store transaction rolls them back, so nobody may see them).
  absl::Status Atomically(const std::function<absl::Status(const Emit&)>& fn);

  // Runs `fn` on the sync thread once everything the store committed before this call is on
  // disk, after the events committed before it reached subscribers. Callbacks run in the
  // order they were queued, must not block, and must not call Flush.
  void WhenDurable(std::function<void()> fn);

  // Blocks until everything committed before the call is on disk, delivered to subscribers
  // and its WhenDurable callbacks have run. For tests and shutdown; not from a callback.
  void Flush();

  // Subscribes and returns the last seq delivered at that instant: every later event reaches
  // the subscriber, so "read the log up to that seq, then take live events" misses nothing.
  uint64_t Subscribe(Subscriber subscriber, uint64_t* id);
  void Unsubscribe(uint64_t id);

 private:
  struct Pending {
    uint64_t ticket;
    store::EventRecord event;
  };
  struct Callback {
    uint64_t ticket;
    std::function<void()> fn;
  };

  // A ticket orders work against syncs: a sync that starts after a ticket was taken covers it.
  uint64_t NewTicketLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(q_mu_);
  void SyncLoop();
  // One round: fdatasync, then deliver events and run callbacks up to the tickets it covers.
  // False when the sync failed (nothing delivered).
  bool DeliverPending();

  store::Store* store_;
  absl::Mutex mu_;  // serialises Atomically (the store's transactions and seq order)

  // The queue between committers and the sync thread.
  absl::Mutex q_mu_;
  uint64_t last_ticket_ ABSL_GUARDED_BY(q_mu_) = 0;
  uint64_t delivered_ticket_ ABSL_GUARDED_BY(q_mu_) = 0;
  std::deque<Pending> events_ ABSL_GUARDED_BY(q_mu_);
  std::deque<Callback> callbacks_ ABSL_GUARDED_BY(q_mu_);
  bool stopping_ ABSL_GUARDED_BY(q_mu_) = false;

  std::mutex deliver_mu_;  // one DeliverPending at a time (the thread, or Flush after stop)
  std::thread thread_;

  // Fan-out state; fan_mu_ is held while subscribers are called.
  absl::Mutex fan_mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(fan_mu_) = 1;
  uint64_t last_seq_ ABSL_GUARDED_BY(fan_mu_) = 0;  // last seq delivered
  std::map<uint64_t, Subscriber> subscribers_ ABSL_GUARDED_BY(fan_mu_);
  // Unsubscribe() calls made by subscribers during a fan-out (the caller holds fan_mu_ then).
  std::set<uint64_t> unsubscribed_in_fanout_;
};

}  // namespace tachyon::controller
