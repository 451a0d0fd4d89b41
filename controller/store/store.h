#pragma once

// The controller's durable state behind a narrow interface: agents, jobs and the event log.
// SqliteStore is the embedded implementation; a replicated one (etcd, PostgreSQL) would be another.
// Every method is thread-safe and returns quickly (no network); callers may be gRPC reactors.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tachyon::store {

struct AgentRecord {
  std::string name;
  std::vector<std::string> groups;
  std::string version;
  std::string facts_json = "{}";
  bool connected = false;
  absl::Time last_seen;
  uint64_t last_event_seq = 0;  // highest per-agent event seq recorded (duplicate detection)
};

// Job states as stored; names match tachyon::jobs::JobStateName and the CLI output.
// "pending" "running" "succeeded" "failed" "timed_out" "killed" "lost" "unreachable"
struct JobRecord {
  std::string jid;
  std::string host;
  std::string module;
  std::string args_json = "{}";
  int64_t timeout_seconds = 0;
  std::string state = "pending";
  std::string result_json;  // final result; empty while not finished
  std::string rollout_id;
  // Identifies the job within its rollout (same task, host and arguments, n-th time), so that a
  // rollout resumed after a controller restart re-attaches to it instead of starting it again.
  std::string rollout_key;
  absl::Time created;
  absl::Time updated;
};

// A playbook run owned by the controller. States: "running", "paused", "finished",
// "aborted", "failed" (could not run at all).
struct RolloutRecord {
  std::string id;  // "r<N>"
  std::string state = "running";
  std::string playbook;             // as the operator named it
  std::string spec_json = "{}";     // what is needed to run (or resume) it
  int rc = -1;                      // exit code once over
  std::string recap_json;           // CONTRACT.md recap `hosts` object once over
  absl::Time created;
  absl::Time updated;
};

struct EventRecord {
  uint64_t seq = 0;  // assigned by AppendEvent: global, gap-free, starting at 1
  absl::Time ts;
  std::string type;  // agent_connected, job_dispatched, job_finished, ...
  std::string host;
  std::string jid;
  std::string rollout;
  std::string data_json = "{}";
};

struct EventFilter {
  uint64_t since_seq = 0;  // return events with seq > since_seq
  std::string host;        // empty = any
  std::string rollout;     // empty = any
  std::string jid;         // empty = any
  size_t limit = 1000;     // 0 returns nothing
};

// An enrollment token (`tachyon token create`). Only a hash of its secret is stored.
struct TokenRecord {
  std::string id;             // the public part, printed in the token
  std::string secret_sha256;  // lowercase hex SHA-256 of the secret part
  std::string name;           // the agent name it is bound to; empty: the agent proposes one
  bool replace = false;       // may re-enroll a name that already exists
  int64_t uses_left = 1;
  absl::Time expires;
  absl::Time created;
};

// A certificate the controller signed itself (enrollment or renewal).
struct IssuedCertRecord {
  std::string serial_hex;
  std::string name;  // the agent
  absl::Time issued;
  absl::Time not_after;
  std::string via;  // "enroll" | "renew"
};

// Commits made on this thread inside a DeferSync scope return before they are on disk; the
// caller must call Store::SyncToDisk before anyone outside the controller relies on them. The
// event bus does this for every Atomically(), in batches (group commit).
inline int& DeferSyncDepth() {
  thread_local int depth = 0;
  return depth;
}
class DeferSync {
 public:
  DeferSync() { ++DeferSyncDepth(); }
  ~DeferSync() { --DeferSyncDepth(); }
  DeferSync(const DeferSync&) = delete;
  DeferSync& operator=(const DeferSync&) = delete;
};

class Store {
 public:
  virtual ~Store() = default;

  // Durability: every write method returns once its transaction is on disk (survives a power
  // loss), except inside a DeferSync scope. SyncToDisk makes every transaction committed before
  // the call durable; one call covers any number of them.
  virtual absl::Status SyncToDisk() = 0;

  // Agents. UpsertAgent inserts or replaces every field except last_event_seq, which only ever
  // grows (a fresh record on reconnect must not reset duplicate detection).
  virtual absl::Status UpsertAgent(const AgentRecord& agent) = 0;
  // NotFound for an agent never upserted (nor seen by ApplyAgentEvent).
  virtual absl::Status SetAgentConnected(const std::string& name, bool connected, absl::Time now) = 0;
  virtual absl::StatusOr<std::optional<AgentRecord>> GetAgent(const std::string& name) = 0;
  virtual absl::StatusOr<std::vector<AgentRecord>> ListAgents() = 0;

  // Jobs. NewJobId returns a fresh Ansible-shaped id (^j\d+\.\d+$) never handed out before,
  // even across restarts.
  virtual absl::StatusOr<std::string> NewJobId() = 0;
  // AlreadyExists for a known jid. Unset created/updated (epoch or InfinitePast) become now.
  virtual absl::Status CreateJob(const JobRecord& job) = 0;
  virtual absl::StatusOr<std::optional<JobRecord>> GetJob(const std::string& jid) = 0;
  // Sets state (and result_json when non-empty). Returns false, changing nothing, when the job
  // already has a final state: a final result is recorded exactly once. Also false for
  // running -> pending (a stale redelivery). NotFound for an unknown jid, InvalidArgument for an
  // unknown state.
  virtual absl::StatusOr<bool> UpdateJob(const std::string& jid, const std::string& state,
                                         const std::string& result_json, absl::Time now) = 0;
  // NotFound when there is no such job.
  virtual absl::Status DeleteJob(const std::string& jid) = 0;
  // Jobs of one host in the given states (e.g. {"pending"} for redelivery), oldest first.
  // An empty host means every host; empty states means every state.
  virtual absl::StatusOr<std::vector<JobRecord>> ListJobs(const std::string& host,
                                                          const std::vector<std::string>& states) = 0;

  // Jobs of one rollout, oldest first.
  virtual absl::StatusOr<std::vector<JobRecord>> ListRolloutJobs(const std::string& rollout_id) = 0;

  // Rollouts. NewRolloutId returns "r<N>", never handed out before.
  virtual absl::StatusOr<std::string> NewRolloutId() = 0;
  // AlreadyExists for a known id.
  virtual absl::Status CreateRollout(const RolloutRecord& rollout) = 0;
  // Sets state, rc and recap (recap only when non-empty). NotFound for an unknown id.
  virtual absl::Status UpdateRollout(const std::string& id, const std::string& state, int rc,
                                     const std::string& recap_json, absl::Time now) = 0;
  virtual absl::StatusOr<std::optional<RolloutRecord>> GetRollout(const std::string& id) = 0;
  // Newest first; empty states means every state.
  virtual absl::StatusOr<std::vector<RolloutRecord>> ListRollouts(
      const std::vector<std::string>& states) = 0;

  // Event log. AppendEvent assigns seq, and ts when ts is unset (InfinitePast, or the default
  // epoch value). A failed append (or a rolled-back ApplyAgentEvent) consumes no seq.
  virtual absl::StatusOr<EventRecord> AppendEvent(EventRecord event) = 0;
  virtual absl::StatusOr<std::vector<EventRecord>> ReadEvents(const EventFilter& filter) = 0;
  virtual absl::StatusOr<uint64_t> LastEventSeq() = 0;

  // Per-agent delivery state: runs `apply` and records `seq` as seen for `agent` in one
  // transaction, unless seq <= the recorded one (a duplicate: returns false, runs nothing).
  // `apply` may call the other methods of this store (the lock is re-entrant for it).
  virtual absl::StatusOr<bool> ApplyAgentEvent(const std::string& agent, uint64_t seq,
                                               const std::function<absl::Status()>& apply) = 0;

  // Enrollment and revocation (issue 8). Defaults so that a Store without them still builds;
  // SqliteStore implements them all.
  // AlreadyExists for a known id.
  virtual absl::Status CreateToken(const TokenRecord& token) {
    (void)token;
    return absl::UnimplementedError("tokens");
  }
  virtual absl::StatusOr<std::optional<TokenRecord>> GetToken(const std::string& id) {
    (void)id;
    return absl::UnimplementedError("tokens");
  }
  // Takes one use of the token, atomically: false (nothing changed) when it has no use left or
  // has expired at `now`.
  virtual absl::StatusOr<bool> UseToken(const std::string& id, absl::Time now) {
    (void)id, (void)now;
    return absl::UnimplementedError("tokens");
  }
  // AlreadyExists for a known serial.
  virtual absl::Status RecordIssuedCert(const IssuedCertRecord& cert) {
    (void)cert;
    return absl::UnimplementedError("issued certificates");
  }
  virtual absl::StatusOr<std::optional<IssuedCertRecord>> GetIssuedCert(
      const std::string& serial_hex) {
    (void)serial_hex;
    return absl::UnimplementedError("issued certificates");
  }
  // The most recently issued certificate for an agent name, if any.
  virtual absl::StatusOr<std::optional<IssuedCertRecord>> LatestIssuedCert(
      const std::string& name) {
    (void)name;
    return absl::UnimplementedError("issued certificates");
  }
  // Records (or moves forward) the revocation of an agent name: certificates for it issued
  // before `when` are refused from then on.
  virtual absl::Status RevokeAgent(const std::string& name, absl::Time when) {
    (void)name, (void)when;
    return absl::UnimplementedError("revocations");
  }
  // When the name was revoked, if it was.
  virtual absl::StatusOr<std::optional<absl::Time>> GetRevocation(const std::string& name) {
    (void)name;
    return absl::UnimplementedError("revocations");
  }
  // Every revoked name with its revocation time, by name.
  virtual absl::StatusOr<std::vector<std::pair<std::string, absl::Time>>> ListRevocations() {
    return absl::UnimplementedError("revocations");
  }
};

// Opens (creating if needed) DIR/tachyon.db with WAL, mode 0600.
absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const std::string& state_dir);

}  // namespace tachyon::store
