#pragma once

// Job events waiting for the controller's ack, kept on disk so that neither an agent crash nor
// a controller restart loses one. Each event gets a per-agent sequence number that the
// controller uses to drop duplicates; an event leaves the outbox only when acked, and every
// unacked event is sent again after a reconnect, in seq order.
//
// Numbering starts once the controller has said (in this run's first welcome) which seq it
// stored last, so a restarted agent never reuses a number the controller has already seen;
// meta.json keeps the counter too, for a controller that lost its database. Files: DIR/meta.json
// and DIR/e-<ordinal>.json, each written atomically with mode 0600. meta.json reserves numbers a
// block at a time (kSeqBlock), so it is written once per block rather than once per ack; a restart
// skips what was left of the block, and the controller only needs seqs to increase.

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/jobs/job_engine.h"

namespace tachyon::agent {

struct OutboxEvent {
  uint64_t ordinal = 0;  // local, increasing: the file name and the order of events
  uint64_t seq = 0;      // 0 until numbered
  jobs::JobEvent event;
  int64_t ts_unix_ms = 0;
};

class Outbox {
 public:
  static constexpr uint64_t kSeqBlock = 4096;

  // Loads what a previous run left in `dir` (created 0700 if missing). An empty `dir` keeps the
  // outbox in memory only (tests, simulators).
  // `seq_block` is for tests.
  static absl::StatusOr<std::unique_ptr<Outbox>> Open(const std::string& dir,
                                                      uint64_t seq_block = kSeqBlock);

  // Records an event durably before returning. A write failure (disk full) is returned and the
  // event is kept in memory, so it is still delivered while this process lives.
  absl::Status Add(const jobs::JobEvent& event, int64_t ts_unix_ms);
  // A (re)connection was welcomed: drop what the controller has, number the rest, and return
  // every event to send, in order.
  std::vector<OutboxEvent> OnWelcome(uint64_t controller_last_seq);
  // Events added while connected and welcomed: numbered at once and returned for sending.
  std::vector<OutboxEvent> TakeNew();
  void Ack(uint64_t seq);
  void OnDisconnect();
  size_t size() const;

 private:
  Outbox(std::string dir, uint64_t seq_block) : dir_(std::move(dir)), seq_block_(seq_block) {}
  absl::Status Load();
  void NumberLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status PersistEventLocked(const OutboxEvent& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records that numbers below `reserve_upto` may be in use, then allows handing them out.
  absl::Status PersistMetaLocked(uint64_t reserve_upto) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The next seq, reserving a new block first when the current one is used up.
  uint64_t NextSeqLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string EventPath(uint64_t ordinal) const;

  const std::string dir_;
  const uint64_t seq_block_;
  mutable absl::Mutex mu_;
  std::deque<OutboxEvent> events_ ABSL_GUARDED_BY(mu_);
  uint64_t next_ordinal_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t reserved_ ABSL_GUARDED_BY(mu_) = 1;  // meta.json covers every seq below this
  bool numbering_ ABSL_GUARDED_BY(mu_) = false;
  bool live_ ABSL_GUARDED_BY(mu_) = false;
  size_t sent_upto_ ABSL_GUARDED_BY(mu_) = 0;  // events_[0, sent_upto_) were handed out
};

// JSON form of an event, shared by the outbox files and tests.
nlohmann::json OutboxEventToJson(const OutboxEvent& e);
absl::StatusOr<OutboxEvent> OutboxEventFromJson(const nlohmann::json& j);

}  // namespace tachyon::agent
