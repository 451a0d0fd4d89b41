#pragma once

// The embedded Store: one SQLite connection in WAL mode, serialised by a re-entrant lock.
//
// Durability: journal_mode=WAL with synchronous=NORMAL, plus our own fdatasync of the WAL file
// (SyncToDisk), which gives FULL's guarantee for every commit it covers. A commit outside a
// DeferSync scope calls it at once (FULL's behaviour: one fsync per commit). Inside one (the
// event bus's Atomically), the commit returns at once and the bus's sync thread later covers a
// whole batch of commits with one fdatasync before any of them is acked to an agent, sent to
// one, or shown to a subscriber: group commit. The controller acks an agent's event only after
// it is durable, and the agent then deletes it from its outbox; so a power cut never drops a
// commit that was acked, and a job's final result is never lost. An fsync costs ~0.15 ms on an
// idle disk and 5-10 ms on a busy one; batching is what keeps fan-out to thousands of agents and
// bursts of events from paying it per commit.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "controller/store/store.h"

// Forward declarations keep sqlite3.h (and its link dependency) out of our users' includes.
struct sqlite3;
struct sqlite3_stmt;

namespace tachyon::store {

// std::recursive_mutex with thread-safety annotations. The store needs re-entrancy because
// ApplyAgentEvent runs a caller's callback inside its transaction and that callback calls the
// store's other methods on the same thread; absl::Mutex is not re-entrant, and an "in
// transaction" flag would let *other* threads slip in while the callback runs. The callback must
// therefore make its store calls on the calling thread (handing them to another thread that
// waits for the lock would deadlock).
class ABSL_LOCKABLE ReentrantMutex {
 public:
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

 private:
  std::recursive_mutex mu_;
};

class ABSL_SCOPED_LOCKABLE ReentrantLock {
 public:
  explicit ReentrantLock(ReentrantMutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->Lock();
  }
  ~ReentrantLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  ReentrantLock(const ReentrantLock&) = delete;
  ReentrantLock& operator=(const ReentrantLock&) = delete;

 private:
  ReentrantMutex* mu_;
};

class SqliteStore final : public Store {
 public:
  static constexpr int kSchemaVersion = 4;
  static constexpr char kDbFileName[] = "tachyon.db";

  // Creates `state_dir` (0700) and `state_dir`/tachyon.db (0600) when missing, and migrates the
  // schema to kSchemaVersion. A database written by a newer controller is refused.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Create(const std::string& state_dir);

  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  absl::Status SyncToDisk() override;

  absl::Status UpsertAgent(const AgentRecord& agent) override;
  absl::Status SetAgentConnected(const std::string& name, bool connected, absl::Time now) override;
  absl::StatusOr<std::optional<AgentRecord>> GetAgent(const std::string& name) override;
  absl::StatusOr<std::vector<AgentRecord>> ListAgents() override;

  absl::StatusOr<std::string> NewJobId() override;
  absl::Status CreateJob(const JobRecord& job) override;
  absl::StatusOr<std::optional<JobRecord>> GetJob(const std::string& jid) override;
  absl::StatusOr<bool> UpdateJob(const std::string& jid, const std::string& state,
                                 const std::string& result_json, absl::Time now) override;
  absl::Status DeleteJob(const std::string& jid) override;
  absl::StatusOr<std::vector<JobRecord>> ListJobs(const std::string& host,
                                                  const std::vector<std::string>& states) override;

  absl::StatusOr<std::vector<JobRecord>> ListRolloutJobs(const std::string& rollout_id) override;

  absl::StatusOr<std::string> NewRolloutId() override;
  absl::Status CreateRollout(const RolloutRecord& rollout) override;
  absl::Status UpdateRollout(const std::string& id, const std::string& state, int rc,
                             const std::string& recap_json, absl::Time now) override;
  absl::StatusOr<std::optional<RolloutRecord>> GetRollout(const std::string& id) override;
  absl::StatusOr<std::vector<RolloutRecord>> ListRollouts(
      const std::vector<std::string>& states) override;

  absl::StatusOr<EventRecord> AppendEvent(EventRecord event) override;
  absl::StatusOr<std::vector<EventRecord>> ReadEvents(const EventFilter& filter) override;
  absl::StatusOr<uint64_t> LastEventSeq() override;

  absl::StatusOr<bool> ApplyAgentEvent(const std::string& agent, uint64_t seq,
                                       const std::function<absl::Status()>& apply) override;

  absl::Status CreateToken(const TokenRecord& token) override;
  absl::StatusOr<std::optional<TokenRecord>> GetToken(const std::string& id) override;
  absl::StatusOr<bool> UseToken(const std::string& id, absl::Time now) override;
  absl::Status RecordIssuedCert(const IssuedCertRecord& cert) override;
  absl::StatusOr<std::optional<IssuedCertRecord>> GetIssuedCert(
      const std::string& serial_hex) override;
  absl::StatusOr<std::optional<IssuedCertRecord>> LatestIssuedCert(
      const std::string& name) override;
  absl::Status RevokeAgent(const std::string& name, absl::Time when) override;
  absl::StatusOr<std::optional<absl::Time>> GetRevocation(const std::string& name) override;
  absl::StatusOr<std::vector<std::pair<std::string, absl::Time>>> ListRevocations() override;

  // Test hook: caps the database at `pages` pages so that writes fail with SQLITE_FULL, the way
  // a full disk does.
  absl::Status SetMaxPageCountForTest(int64_t pages);

 private:
  struct DbCloser {
    void operator()(sqlite3* db) const;
  };
  struct StmtFinalizer {
    void operator()(sqlite3_stmt* stmt) const;
  };
  class Stmt;
  class Txn;

  SqliteStore(std::string path, sqlite3* db);

  absl::Status Configure() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Migrate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Exec runs a script (several statements, not cached); Run one cached statement, no rows.
  absl::Status Exec(const std::string& sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Run(const std::string& sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Returns the cached prepared statement for `sql`, preparing it on first use.
  absl::StatusOr<sqlite3_stmt*> Prepare(const std::string& sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Error(int rc, const std::string& what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs `fn` in a transaction (a savepoint when one is already open) and commits when it
  // succeeds; rolls back otherwise.
  template <typename Fn>
  auto InTxn(Fn&& fn) -> decltype(fn()) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::StatusOr<JobRecord> ReadJobRow(sqlite3_stmt* stmt) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<AgentRecord> ReadAgentRow(sqlite3_stmt* stmt) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  RolloutRecord ReadRolloutRow(Stmt* st) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  // Random per open, the second half of every job id handed out by this instance: together with
  // the persisted counter it keeps ids unique even if a counter bump was rolled back with an
  // enclosing ApplyAgentEvent transaction, or the database was deleted.
  const uint64_t id_nonce_;

  ReentrantMutex mu_;
  // Declared before stmts_ so that statements are finalized before the connection closes.
  std::unique_ptr<sqlite3, DbCloser> db_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::unique_ptr<sqlite3_stmt, StmtFinalizer>> stmts_
      ABSL_GUARDED_BY(mu_);
  int txn_depth_ ABSL_GUARDED_BY(mu_) = 0;
  // The -wal file, opened on the first SyncToDisk after it exists (SQLite keeps the same file
  // while the connection is open, so the fd stays valid). Its own lock: syncing never waits
  // for, or blocks, transactions.
  std::mutex wal_mu_;
  int wal_fd_ = -1;
  // Highest job counter handed out by this instance; never goes back even when the persisted
  // counter does (rollback).
  uint64_t last_job_counter_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tachyon::store
