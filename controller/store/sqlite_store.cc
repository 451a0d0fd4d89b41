#include "controller/store/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <limits>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/status.h"
#include "nlohmann/json.hpp"

namespace tachyon::store {
namespace {

constexpr const char* kJobStates[] = {"pending",   "running", "succeeded", "failed",
                                      "timed_out", "killed",  "lost",      "unreachable"};
// Once a job is in one of these it never changes again: its final result is recorded once.
constexpr const char* kFinalJobStates[] = {"succeeded", "failed", "timed_out",
                                           "killed",    "lost",   "unreachable"};

bool IsJobState(const std::string& state) {
  return std::find(std::begin(kJobStates), std::end(kJobStates), state) != std::end(kJobStates);
}

bool IsFinalJobState(const std::string& state) {
  return std::find(std::begin(kFinalJobStates), std::end(kFinalJobStates), state) !=
         std::end(kFinalJobStates);
}

// Schema migrations: kMigrations[i] takes user_version i to i + 1. Append, never edit: a database
// in the field has run every earlier entry exactly as written.
//
// Times are unix microseconds (INTEGER) so that ordering and range queries are plain integer
// comparisons. Strings are NOT NULL DEFAULT '' so that "unset" has a single spelling.
constexpr const char* kMigrations[] = {
    // v1
    R"sql(
CREATE TABLE meta (
  key   TEXT PRIMARY KEY NOT NULL,
  value INTEGER NOT NULL
) WITHOUT ROWID;
-- job_counter: last job id counter handed out. last_event_seq: last global event seq assigned;
-- kept here rather than derived from MAX(events.seq) so that pruning old events never lets a
-- seq be reused.
INSERT INTO meta (key, value) VALUES ('job_counter', 0), ('last_event_seq', 0);

CREATE TABLE agents (
  name           TEXT PRIMARY KEY NOT NULL,
  groups_json    TEXT NOT NULL DEFAULT '[]',
  version        TEXT NOT NULL DEFAULT '',
  facts_json     TEXT NOT NULL DEFAULT '{}',
  connected      INTEGER NOT NULL DEFAULT 0,
  last_seen_us   INTEGER NOT NULL DEFAULT 0,
  last_event_seq INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE jobs (
  jid             TEXT PRIMARY KEY NOT NULL,
  host            TEXT NOT NULL,
  module          TEXT NOT NULL,
  args_json       TEXT NOT NULL DEFAULT '{}',
  timeout_seconds INTEGER NOT NULL DEFAULT 0,
  state           TEXT NOT NULL CHECK (state IN ('pending', 'running', 'succeeded', 'failed',
                                                 'timed_out', 'killed', 'lost', 'unreachable')),
  result_json     TEXT NOT NULL DEFAULT '',
  rollout_id      TEXT NOT NULL DEFAULT '',
  created_us      INTEGER NOT NULL,
  updated_us      INTEGER NOT NULL
);
CREATE INDEX jobs_host_state ON jobs (host, state);
CREATE INDEX jobs_rollout ON jobs (rollout_id);

-- seq is the rowid: the global, gap-free sequence that `tachyon events --since` resumes from.
CREATE TABLE events (
  seq       INTEGER PRIMARY KEY,
  ts_us     INTEGER NOT NULL,
  type      TEXT NOT NULL,
  host      TEXT NOT NULL DEFAULT '',
  jid       TEXT NOT NULL DEFAULT '',
  rollout   TEXT NOT NULL DEFAULT '',
  data_json TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_host ON events (host, seq);
CREATE INDEX events_rollout ON events (rollout, seq);
)sql",
    // v2: `tachyon job logs` reads one job's events.
    R"sql(
CREATE INDEX events_jid ON events (jid, seq);
)sql",
    // v3: rollouts run by the controller (`tachyon run`), and each job's place in its rollout.
    R"sql(
ALTER TABLE jobs ADD COLUMN rollout_key TEXT NOT NULL DEFAULT '';
INSERT INTO meta (key, value) VALUES ('rollout_counter', 0);
CREATE TABLE rollouts (
  id          TEXT PRIMARY KEY NOT NULL,
  state       TEXT NOT NULL CHECK (state IN ('running', 'paused', 'finished', 'aborted',
                                             'failed')),
  playbook    TEXT NOT NULL DEFAULT '',
  spec_json   TEXT NOT NULL DEFAULT '{}',
  rc          INTEGER NOT NULL DEFAULT -1,
  recap_json  TEXT NOT NULL DEFAULT '',
  created_us  INTEGER NOT NULL,
  updated_us  INTEGER NOT NULL
);
CREATE INDEX rollouts_state ON rollouts (state);
)sql",
    // v4: enrollment tokens (only a hash of the secret), certificates the controller signed,
    // and revoked agent names (issue 8).
    R"sql(
CREATE TABLE enroll_tokens (
  id            TEXT PRIMARY KEY NOT NULL,
  secret_sha256 TEXT NOT NULL,
  name          TEXT NOT NULL DEFAULT '',
  replace_ok    INTEGER NOT NULL DEFAULT 0,
  uses_left     INTEGER NOT NULL,
  expires_us    INTEGER NOT NULL,
  created_us    INTEGER NOT NULL
);
CREATE TABLE issued_certs (
  serial       TEXT PRIMARY KEY NOT NULL,
  name         TEXT NOT NULL,
  issued_us    INTEGER NOT NULL,
  not_after_us INTEGER NOT NULL,
  via          TEXT NOT NULL DEFAULT ''
);
CREATE INDEX issued_certs_name ON issued_certs (name, issued_us);
CREATE TABLE revocations (
  name       TEXT PRIMARY KEY NOT NULL,
  revoked_us INTEGER NOT NULL
);
)sql",
};
static_assert(std::size(kMigrations) == SqliteStore::kSchemaVersion,
              "one migration per schema version");

constexpr int kBusyTimeoutMs = 5000;

// Infinite times survive a round trip; everything else is microsecond precision.
int64_t ToMicros(absl::Time t) {
  if (t == absl::InfinitePast()) return std::numeric_limits<int64_t>::min();
  if (t == absl::InfiniteFuture()) return std::numeric_limits<int64_t>::max();
  return absl::ToUnixMicros(t);
}

absl::Time FromMicros(int64_t us) {
  if (us == std::numeric_limits<int64_t>::min()) return absl::InfinitePast();
  if (us == std::numeric_limits<int64_t>::max()) return absl::InfiniteFuture();
  return absl::FromUnixMicros(us);
}

// The API spells "unset" as InfinitePast, but a default-constructed absl::Time is the epoch;
// treat both as "use the current time" (nothing real happens at 1970-01-01T00:00:00Z).
absl::Time OrNow(absl::Time t) {
  return (t == absl::InfinitePast() || t == absl::Time()) ? absl::Now() : t;
}

int64_t ClampToInt64(uint64_t v) {
  return v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
             ? std::numeric_limits<int64_t>::max()
             : static_cast<int64_t>(v);
}

absl::StatusOr<std::vector<std::string>> ParseGroups(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_array()) {
    return absl::DataLossError(absl::StrCat("agents.groups_json is not a JSON array: ", text));
  }
  std::vector<std::string> groups;
  for (const auto& g : j) {
    if (!g.is_string()) {
      return absl::DataLossError(absl::StrCat("agents.groups_json holds a non-string: ", text));
    }
    groups.push_back(g.get<std::string>());
  }
  return groups;
}

uint64_t RandomNonce() {
  // Ten digits, first one non-zero, so that every id has the same shape.
  std::random_device rd;
  std::uniform_int_distribution<uint64_t> dist(1000000000ULL, 9999999999ULL);
  return dist(rd);
}

}  // namespace

void SqliteStore::DbCloser::operator()(sqlite3* db) const {
  // Statements are finalized before this runs (member order), so close cannot be refused.
  int rc = sqlite3_close(db);
  if (rc != SQLITE_OK) {
    TLOG(Error) << "sqlite3_close: " << sqlite3_errstr(rc);
  }
}

void SqliteStore::StmtFinalizer::operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }

// A borrowed cached statement. Bind errors are remembered and reported by the first Step, so
// call sites stay readable while every return code is still checked. Resets on destruction so
// the cached statement is ready for its next user and holds no read snapshot open.
class SqliteStore::Stmt {
 public:
  Stmt(SqliteStore* store, sqlite3_stmt* stmt) : store_(store), stmt_(stmt) {}
  ~Stmt() {
    // The code returned repeats the last Step's error, which was already reported.
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  void Bind(int index, int64_t value) { Check(sqlite3_bind_int64(stmt_, index, value)); }
  void Bind(int index, const std::string& value) {
    Check(sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                            SQLITE_TRANSIENT));
  }

  // True when a row is available, false when the statement has finished.
  absl::StatusOr<bool> Step() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (bind_rc_ != SQLITE_OK) return store_->Error(bind_rc_, absl::StrCat("bind ", What()));
    // SQLite rolls a whole transaction back on some errors (full disk, I/O). If a caller carried
    // on regardless (say an ApplyAgentEvent callback that ignored an error), this statement would
    // run in autocommit mode and commit on its own, half of a transaction; refuse instead.
    if (store_->txn_depth_ > 0 && sqlite3_get_autocommit(store_->db_.get())) {
      return absl::AbortedError("sqlite: an earlier error rolled back the enclosing transaction");
    }
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return store_->Error(rc, What());
  }

  // Runs a statement that returns no rows (or whose rows are not wanted).
  absl::Status Run() {
    while (true) {
      ASSIGN_OR_RETURN(bool row, Step());
      if (!row) return absl::OkStatus();
    }
  }

  int64_t Int(int col) { return sqlite3_column_int64(stmt_, col); }
  std::string Text(int col) {
    const unsigned char* text = sqlite3_column_text(stmt_, col);
    if (text == nullptr) return "";
    return std::string(reinterpret_cast<const char*>(text),
                       static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
  }
  sqlite3_stmt* raw() { return stmt_; }

 private:
  void Check(int rc) {
    if (rc != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  }
  std::string What() const {
    std::string sql = sqlite3_sql(stmt_);
    if (sql.size() > 80) sql = sql.substr(0, 77) + "...";
    return sql;
  }

  SqliteStore* store_;
  sqlite3_stmt* stmt_;
  int bind_rc_ = SQLITE_OK;
};

// A transaction, or a savepoint nested in the one already open on this connection (from inside
// an ApplyAgentEvent callback). Rolls back unless committed.
class SqliteStore::Txn {
 public:
  explicit Txn(SqliteStore* store) : store_(store) {}
  ~Txn() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    if (level_ > 0 && !done_) Rollback();
  }
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;

  absl::Status Begin() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    int depth = store_->txn_depth_;
    if (depth == 0) {
      // IMMEDIATE takes the write lock now, so a transaction never fails half-way on a lock
      // upgrade (only matters if an operator has the database open in another process).
      RETURN_IF_ERROR(store_->Run("BEGIN IMMEDIATE"));
    } else {
      if (sqlite3_get_autocommit(store_->db_.get())) {
        // SQLite rolls a whole transaction back on some errors (full disk, I/O); running on in
        // autocommit mode would commit half of the enclosing work.
        return absl::AbortedError("sqlite: an earlier error rolled back the enclosing transaction");
      }
      RETURN_IF_ERROR(store_->Run(SavepointName("SAVEPOINT ", depth)));
    }
    level_ = ++store_->txn_depth_;
    return absl::OkStatus();
  }

  absl::Status Commit() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    assert(level_ == store_->txn_depth_ && !done_);
    if (sqlite3_get_autocommit(store_->db_.get())) {
      return absl::AbortedError("sqlite: an earlier error rolled back the transaction");
    }
    if (level_ == 1) {
      RETURN_IF_ERROR(store_->Run("COMMIT"));
    } else {
      RETURN_IF_ERROR(store_->Run(SavepointName("RELEASE ", level_ - 1)));
    }
    done_ = true;
    --store_->txn_depth_;
    // Outside a DeferSync scope a top-level commit is on disk before it returns.
    if (level_ == 1 && DeferSyncDepth() == 0) return store_->SyncToDisk();
    return absl::OkStatus();
  }

 private:
  static std::string SavepointName(const char* verb, int n) { return absl::StrCat(verb, "sp", n); }

  void Rollback() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    assert(level_ == store_->txn_depth_);
    // Nothing to undo if SQLite already rolled the transaction back itself.
    if (!sqlite3_get_autocommit(store_->db_.get())) {
      absl::Status s;
      if (level_ == 1) {
        s = store_->Run("ROLLBACK");
      } else {
        s = store_->Run(SavepointName("ROLLBACK TO ", level_ - 1));
        if (s.ok()) s = store_->Run(SavepointName("RELEASE ", level_ - 1));
      }
      if (!s.ok()) {
        TLOG(Error) << "store rollback failed: " << s;
      }
    }
    done_ = true;
    --store_->txn_depth_;
  }

  SqliteStore* store_;
  int level_ = 0;
  bool done_ = false;
};

template <typename Fn>
auto SqliteStore::InTxn(Fn&& fn) -> decltype(fn()) {
  Txn txn(this);
  RETURN_IF_ERROR(txn.Begin());
  auto result = fn();
  if (!result.ok()) return result;
  RETURN_IF_ERROR(txn.Commit());
  return result;
}

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Create(const std::string& state_dir) {
  RETURN_IF_ERROR(MakeDirs(state_dir, 0700));
  std::string path = absl::StrCat(state_dir, "/", kDbFileName);

  // Create the file ourselves so it is never world-readable, not even for an instant, and
  // tighten an existing one. SQLite gives the -wal and -shm files the main file's mode.
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return ErrnoStatus(errno, "open " + path);
  if (::fchmod(fd, 0600) != 0) {
    int err = errno;
    ::close(fd);
    return ErrnoStatus(err, "chmod " + path);
  }
  ::close(fd);

  sqlite3* raw = nullptr;
  // NOMUTEX: the store serialises every use of the connection with its own lock.
  int rc =
      sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    sqlite3_close(raw);
    return absl::UnavailableError(absl::StrCat("sqlite: open ", path, ": ", msg));
  }

  std::unique_ptr<SqliteStore> store(new SqliteStore(path, raw));
  {
    ReentrantLock lock(&store->mu_);
    absl::Status s = store->Configure();
    if (s.ok()) s = store->Migrate();
    if (!s.ok()) return absl::Status(s.code(), absl::StrCat(path, ": ", s.message()));
  }
  return store;
}

SqliteStore::SqliteStore(std::string path, sqlite3* db)
    : path_(std::move(path)), id_nonce_(RandomNonce()), db_(db) {}

SqliteStore::~SqliteStore() {
  if (wal_fd_ >= 0) ::close(wal_fd_);
}

absl::Status SqliteStore::SyncToDisk() {
  std::lock_guard<std::mutex> lock(wal_mu_);
  if (wal_fd_ < 0) {
    std::string wal = path_ + "-wal";
    wal_fd_ = ::open(wal.c_str(), O_RDONLY | O_CLOEXEC);
    // No WAL yet: nothing was written since the database was opened.
    if (wal_fd_ < 0) return errno == ENOENT ? absl::OkStatus() : ErrnoStatus(errno, "open " + wal);
  }
  // Any fd of the file flushes its data; fdatasync also covers a change of its size.
  if (::fdatasync(wal_fd_) != 0) return ErrnoStatus(errno, "fdatasync " + path_ + "-wal");
  return absl::OkStatus();
}

absl::Status SqliteStore::Error(int rc, const std::string& what) {
  // sqlite3_errmsg describes the most recent failure on this connection, which is `rc`'s.
  std::string msg = absl::StrCat("sqlite: ", what, ": ", sqlite3_errmsg(db_.get()));
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return absl::ResourceExhaustedError(
          absl::StrCat("database or disk is full (", path_, "); free space and retry. ", msg));
    case SQLITE_NOMEM:
      return absl::ResourceExhaustedError(msg);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(msg);
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE) {
        return absl::AlreadyExistsError(msg);
      }
      if (rc == SQLITE_CONSTRAINT_CHECK) return absl::InvalidArgumentError(msg);
      return absl::FailedPreconditionError(msg);
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
      return absl::InvalidArgumentError(msg);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(msg);
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return absl::PermissionDeniedError(msg);
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
      return absl::UnavailableError(msg);
    default:
      return absl::InternalError(msg);
  }
}

absl::Status SqliteStore::Exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_.get(), sql.c_str(), nullptr, nullptr, &err);
  sqlite3_free(err);  // the same text is still in sqlite3_errmsg, which Error reads
  if (rc != SQLITE_OK) return Error(rc, "exec");
  return absl::OkStatus();
}

absl::StatusOr<sqlite3_stmt*> SqliteStore::Prepare(const std::string& sql) {
  auto it = stmts_.find(sql);
  if (it != stmts_.end()) return it->second.get();
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v3(db_.get(), sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(raw);
    return Error(rc, absl::StrCat("prepare ", sql));
  }
  stmts_.emplace(sql, std::unique_ptr<sqlite3_stmt, StmtFinalizer>(raw));
  return raw;
}

absl::Status SqliteStore::Run(const std::string& sql) {
  ASSIGN_OR_RETURN(sqlite3_stmt * raw, Prepare(sql));
  Stmt st(this, raw);
  return st.Run();
}

absl::Status SqliteStore::Configure() {
  RETURN_IF_ERROR(sqlite3_extended_result_codes(db_.get(), 1) == SQLITE_OK
                      ? absl::OkStatus()
                      : absl::InternalError("sqlite: cannot enable extended result codes"));
  int rc = sqlite3_busy_timeout(db_.get(), kBusyTimeoutMs);
  if (rc != SQLITE_OK) return Error(rc, "busy_timeout");

  // The first statement reads the header: a file that is not a database fails here (DataLoss).
  {
    ASSIGN_OR_RETURN(sqlite3_stmt * raw, Prepare("PRAGMA journal_mode=WAL"));
    Stmt st(this, raw);
    ASSIGN_OR_RETURN(bool row, st.Step());
    std::string mode = row ? st.Text(0) : "";
    if (mode != "wal") {
      return absl::FailedPreconditionError(
          absl::StrCat("sqlite: cannot switch to WAL journal mode (got '", mode,
                       "'); is the state directory on a network file system?"));
    }
  }
  // NORMAL plus SyncToDisk: see the header.
  RETURN_IF_ERROR(Exec("PRAGMA synchronous=NORMAL"));
  RETURN_IF_ERROR(Exec("PRAGMA foreign_keys=ON"));
  return absl::OkStatus();
}

absl::Status SqliteStore::Migrate() {
  int64_t version = 0;
  {
    ASSIGN_OR_RETURN(sqlite3_stmt * raw, Prepare("PRAGMA user_version"));
    Stmt st(this, raw);
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (row) version = st.Int(0);
  }
  if (version > kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat("database schema v", version,
                                                      " is newer than this controller supports (v",
                                                      kSchemaVersion, "); upgrade the controller"));
  }
  if (version < 0) return absl::DataLossError(absl::StrCat("bad schema version ", version));
  for (int64_t v = version; v < kSchemaVersion; ++v) {
    RETURN_IF_ERROR(InTxn([&]() -> absl::Status {
      RETURN_IF_ERROR(Exec(kMigrations[v]));
      return Exec(absl::StrCat("PRAGMA user_version = ", v + 1));
    }));
    TLOG(Info) << "store: migrated " << path_ << " to schema v" << v + 1;
  }
  return absl::OkStatus();
}

absl::Status SqliteStore::SetMaxPageCountForTest(int64_t pages) {
  ReentrantLock lock(&mu_);
  return Exec(absl::StrCat("PRAGMA max_page_count = ", pages));
}

// ---- Agents ----

namespace {
constexpr char kAgentColumns[] =
    "name, groups_json, version, facts_json, connected, last_seen_us, last_event_seq";
}  // namespace

absl::StatusOr<AgentRecord> SqliteStore::ReadAgentRow(sqlite3_stmt* raw) {
  // Column accessors only; the caller's Stmt owns the reset.
  auto text = [raw](int col) {
    const unsigned char* t = sqlite3_column_text(raw, col);
    return t == nullptr ? std::string()
                        : std::string(reinterpret_cast<const char*>(t),
                                      static_cast<size_t>(sqlite3_column_bytes(raw, col)));
  };
  AgentRecord a;
  a.name = text(0);
  ASSIGN_OR_RETURN(a.groups, ParseGroups(text(1)));
  a.version = text(2);
  a.facts_json = text(3);
  a.connected = sqlite3_column_int64(raw, 4) != 0;
  a.last_seen = FromMicros(sqlite3_column_int64(raw, 5));
  a.last_event_seq = static_cast<uint64_t>(sqlite3_column_int64(raw, 6));
  return a;
}

absl::Status SqliteStore::UpsertAgent(const AgentRecord& agent) {
  if (agent.name.empty()) return absl::InvalidArgumentError("agent name is empty");
  ReentrantLock lock(&mu_);
  return InTxn([&]() -> absl::Status {
    // last_event_seq only ever grows: a registry that upserts a fresh record on reconnect must
    // not re-open the door to duplicates that ApplyAgentEvent already dropped.
    ASSIGN_OR_RETURN(
        sqlite3_stmt * raw,
        Prepare(absl::StrCat("INSERT INTO agents (", kAgentColumns,
                             ") VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                             "groups_json = excluded.groups_json, version = excluded.version, "
                             "facts_json = excluded.facts_json, connected = excluded.connected, "
                             "last_seen_us = excluded.last_seen_us, "
                             "last_event_seq = MAX(last_event_seq, excluded.last_event_seq)")));
    Stmt st(this, raw);
    st.Bind(1, agent.name);
    st.Bind(2, nlohmann::json(agent.groups).dump());
    st.Bind(3, agent.version);
    st.Bind(4, agent.facts_json.empty() ? std::string("{}") : agent.facts_json);
    st.Bind(5, int64_t{agent.connected ? 1 : 0});
    st.Bind(6, ToMicros(agent.last_seen));
    st.Bind(7, ClampToInt64(agent.last_event_seq));
    return st.Run();
  });
}

absl::Status SqliteStore::SetAgentConnected(const std::string& name, bool connected,
                                            absl::Time now) {
  ReentrantLock lock(&mu_);
  return InTxn([&]() -> absl::Status {
    ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                     Prepare("UPDATE agents SET connected = ?, last_seen_us = ? WHERE name = ?"));
    Stmt st(this, raw);
    st.Bind(1, int64_t{connected ? 1 : 0});
    st.Bind(2, ToMicros(OrNow(now)));
    st.Bind(3, name);
    RETURN_IF_ERROR(st.Run());
    if (sqlite3_changes(db_.get()) == 0) return absl::NotFoundError("no agent " + name);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<AgentRecord>> SqliteStore::GetAgent(const std::string& name) {
  ReentrantLock lock(&mu_);
  ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                   Prepare(absl::StrCat("SELECT ", kAgentColumns, " FROM agents WHERE name = ?")));
  Stmt st(this, raw);
  st.Bind(1, name);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<AgentRecord>();
  ASSIGN_OR_RETURN(AgentRecord agent, ReadAgentRow(raw));
  return std::optional<AgentRecord>(std::move(agent));
}

absl::StatusOr<std::vector<AgentRecord>> SqliteStore::ListAgents() {
  ReentrantLock lock(&mu_);
  ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                   Prepare(absl::StrCat("SELECT ", kAgentColumns, " FROM agents ORDER BY name")));
  Stmt st(this, raw);
  std::vector<AgentRecord> agents;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    ASSIGN_OR_RETURN(AgentRecord agent, ReadAgentRow(raw));
    agents.push_back(std::move(agent));
  }
  return agents;
}

// ---- Jobs ----

namespace {
constexpr char kJobColumns[] =
    "jid, host, module, args_json, timeout_seconds, state, result_json, rollout_id, created_us, "
    "updated_us, rollout_key";
}  // namespace

absl::StatusOr<JobRecord> SqliteStore::ReadJobRow(sqlite3_stmt* raw) {
  auto text = [raw](int col) {
    const unsigned char* t = sqlite3_column_text(raw, col);
    return t == nullptr ? std::string()
                        : std::string(reinterpret_cast<const char*>(t),
                                      static_cast<size_t>(sqlite3_column_bytes(raw, col)));
  };
  JobRecord j;
  j.jid = text(0);
  j.host = text(1);
  j.module = text(2);
  j.args_json = text(3);
  j.timeout_seconds = sqlite3_column_int64(raw, 4);
  j.state = text(5);
  j.result_json = text(6);
  j.rollout_id = text(7);
  j.created = FromMicros(sqlite3_column_int64(raw, 8));
  j.updated = FromMicros(sqlite3_column_int64(raw, 9));
  j.rollout_key = text(10);
  return j;
}

absl::StatusOr<std::string> SqliteStore::NewJobId() {
  ReentrantLock lock(&mu_);
  ASSIGN_OR_RETURN(uint64_t counter, InTxn([&]() -> absl::StatusOr<uint64_t> {
                     // MAX with our own high-water mark: if an enclosing transaction rolled a
                     // bump back, the counter still never repeats within this process.
                     ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                                      Prepare("UPDATE meta SET value = MAX(value, ?) + 1 "
                                              "WHERE key = 'job_counter' RETURNING value"));
                     Stmt st(this, raw);
                     st.Bind(1, ClampToInt64(last_job_counter_));
                     ASSIGN_OR_RETURN(bool row, st.Step());
                     if (!row) return absl::DataLossError("meta.job_counter is missing");
                     uint64_t value = static_cast<uint64_t>(st.Int(0));
                     RETURN_IF_ERROR(st.Run());
                     return value;
                   }));
  last_job_counter_ = counter;
  return absl::StrCat("j", counter, ".", id_nonce_);
}

absl::Status SqliteStore::CreateJob(const JobRecord& job) {
  if (job.jid.empty()) return absl::InvalidArgumentError("job id is empty");
  if (job.host.empty()) return absl::InvalidArgumentError("job " + job.jid + " has no host");
  if (!IsJobState(job.state)) {
    return absl::InvalidArgumentError("job " + job.jid + ": unknown state '" + job.state + "'");
  }
  ReentrantLock lock(&mu_);
  return InTxn([&]() -> absl::Status {
    ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                     Prepare(absl::StrCat("INSERT INTO jobs (", kJobColumns,
                                          ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")));
    Stmt st(this, raw);
    absl::Time created = OrNow(job.created);
    absl::Time updated = (job.updated == absl::InfinitePast() || job.updated == absl::Time())
                             ? created
                             : job.updated;
    st.Bind(1, job.jid);
    st.Bind(2, job.host);
    st.Bind(3, job.module);
    st.Bind(4, job.args_json.empty() ? std::string("{}") : job.args_json);
    st.Bind(5, job.timeout_seconds);
    st.Bind(6, job.state);
    st.Bind(7, job.result_json);
    st.Bind(8, job.rollout_id);
    st.Bind(9, ToMicros(created));
    st.Bind(10, ToMicros(updated));
    st.Bind(11, job.rollout_key);
    absl::Status s = st.Run();
    if (absl::IsAlreadyExists(s)) return absl::AlreadyExistsError("job " + job.jid + " exists");
    return s;
  });
}

absl::StatusOr<std::optional<JobRecord>> SqliteStore::GetJob(const std::string& jid) {
  ReentrantLock lock(&mu_);
  ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                   Prepare(absl::StrCat("SELECT ", kJobColumns, " FROM jobs WHERE jid = ?")));
  Stmt st(this, raw);
  st.Bind(1, jid);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<JobRecord>();
  ASSIGN_OR_RETURN(JobRecord job, ReadJobRow(raw));
  return std::optional<JobRecord>(std::move(job));
}

absl::StatusOr<bool> SqliteStore::UpdateJob(const std::string& jid, const std::string& state,
                                            const std::string& result_json, absl::Time now) {
  if (!IsJobState(state)) {
    return absl::InvalidArgumentError("job " + jid + ": unknown state '" + state + "'");
  }
  ReentrantLock lock(&mu_);
  return InTxn([&]() -> absl::StatusOr<bool> {
    std::string current;
    {
      ASSIGN_OR_RETURN(sqlite3_stmt * raw, Prepare("SELECT state FROM jobs WHERE jid = ?"));
      Stmt st(this, raw);
      st.Bind(1, jid);
      ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) return absl::NotFoundError("no job " + jid);
      current = st.Text(0);
    }
    // A final state is written once; and a late "pending" (a stale dispatch retry) must not
    // undo an agent's "running".
    if (IsFinalJobState(current)) return false;
    if (current == "running" && state == "pending") return false;
    ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                     Prepare("UPDATE jobs SET state = ?1, "
                             "result_json = CASE WHEN ?2 = '' THEN result_json ELSE ?2 END, "
                             "updated_us = ?3 WHERE jid = ?4"));
    Stmt st(this, raw);
    st.Bind(1, state);
    st.Bind(2, result_json);
    st.Bind(3, ToMicros(OrNow(now)));
    st.Bind(4, jid);
    RETURN_IF_ERROR(st.Run());
    return true;
  });
}

absl::Status SqliteStore::DeleteJob(const std::string& jid) {
  ReentrantLock lock(&mu_);
  return InTxn([&]() -> absl::Status {
    ASSIGN_OR_RETURN(sqlite3_stmt * raw, Prepare("DELETE FROM jobs WHERE jid = ?"));
    Stmt st(this, raw);
    st.Bind(1, jid);
    RETURN_IF_ERROR(st.Run());
    if (sqlite3_changes(db_.get()) == 0) return absl::NotFoundError("no job " + jid);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<JobRecord>> SqliteStore::ListJobs(
    const std::string& host, const std::vector<std::string>& states) {
  for (const auto& s : states) {
    if (!IsJobState(s)) return absl::InvalidArgumentError("unknown job state '" + s + "'");
  }
  // One cached statement per shape (with/without host, number of states): a handful at most.
  std::string sql = absl::StrCat("SELECT ", kJobColumns, " FROM jobs WHERE 1");
  if (!host.empty()) absl::StrAppend(&sql, " AND host = ?");
  if (!states.empty()) {
    std::vector<std::string> marks(states.size(), "?");
    absl::StrAppend(&sql, " AND state IN (", absl::StrJoin(marks, ", "), ")");
  }
  absl::StrAppend(&sql, " ORDER BY created_us, jid");

  ReentrantLock lock(&mu_);
  ASSIGN_OR_RETURN(sqlite3_stmt * raw, Prepare(sql));
  Stmt st(this, raw);
  int i = 1;
  if (!host.empty()) st.Bind(i++, host);
  for (const auto& s : states) st.Bind(i++, s);
  std::vector<JobRecord> jobs;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    ASSIGN_OR_RETURN(JobRecord job, ReadJobRow(raw));
    jobs.push_back(std::move(job));
  }
  return jobs;
}

absl::StatusOr<std::vector<JobRecord>> SqliteStore::ListRolloutJobs(const std::string& rollout_id) {
  ReentrantLock lock(&mu_);
  ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                   Prepare(absl::StrCat("SELECT ", kJobColumns,
                                        " FROM jobs WHERE rollout_id = ? ORDER BY created_us, jid")));
  Stmt st(this, raw);
  st.Bind(1, rollout_id);
  std::vector<JobRecord> jobs;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    ASSIGN_OR_RETURN(JobRecord job, ReadJobRow(raw));
    jobs.push_back(std::move(job));
  }
  return jobs;
}

// ---- Rollouts ----

namespace {
constexpr char kRolloutColumns[] =
    "id, state, playbook, spec_json, rc, recap_json, created_us, updated_us";
constexpr const char* kRolloutStates[] = {"running", "paused", "finished", "aborted", "failed"};
bool IsRolloutState(const std::string& s) {
  return std::find(std::begin(kRolloutStates), std::end(kRolloutStates), s) !=
         std::end(kRolloutStates);
}
}  // namespace

RolloutRecord SqliteStore::ReadRolloutRow(Stmt* st) {
  RolloutRecord r;
  r.id = st->Text(0);
  r.state = st->Text(1);
  r.playbook = st->Text(2);
  r.spec_json = st->Text(3);
  r.rc = static_cast<int>(st->Int(4));
  r.recap_json = st->Text(5);
  r.created = FromMicros(st->Int(6));
  r.updated = FromMicros(st->Int(7));
  return r;
}

absl::StatusOr<std::string> SqliteStore::NewRolloutId() {
  ReentrantLock lock(&mu_);
  ASSIGN_OR_RETURN(int64_t counter, InTxn([&]() -> absl::StatusOr<int64_t> {
                     ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                                      Prepare("UPDATE meta SET value = value + 1 "
                                              "WHERE key = 'rollout_counter' RETURNING value"));
                     Stmt st(this, raw);
                     ASSIGN_OR_RETURN(bool row, st.Step());
                     if (!row) return absl::DataLossError("meta.rollout_counter is missing");
                     int64_t value = st.Int(0);
                     RETURN_IF_ERROR(st.Run());
                     return value;
                   }));
  return absl::StrCat("r", counter);
}

absl::Status SqliteStore::CreateRollout(const RolloutRecord& rollout) {
  if (rollout.id.empty()) return absl::InvalidArgumentError("rollout id is empty");
  if (!IsRolloutState(rollout.state)) {
    return absl::InvalidArgumentError("rollout " + rollout.id + ": unknown state '" +
                                      rollout.state + "'");
  }
  ReentrantLock lock(&mu_);
  return InTxn([&]() -> absl::Status {
    ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                     Prepare(absl::StrCat("INSERT INTO rollouts (", kRolloutColumns,
                                          ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)")));
    Stmt st(this, raw);
    absl::Time created = OrNow(rollout.created);
    st.Bind(1, rollout.id);
    st.Bind(2, rollout.state);
    st.Bind(3, rollout.playbook);
    st.Bind(4, rollout.spec_json.empty() ? std::string("{}") : rollout.spec_json);
    st.Bind(5, static_cast<int64_t>(rollout.rc));
    st.Bind(6, rollout.recap_json);
    st.Bind(7, ToMicros(created));
    st.Bind(8, ToMicros(created));
    absl::Status s = st.Run();
    if (absl::IsAlreadyExists(s)) return absl::AlreadyExistsError("rollout " + rollout.id + " exists");
    return s;
  });
}

absl::Status SqliteStore::UpdateRollout(const std::string& id, const std::string& state, int rc,
                                        const std::string& recap_json, absl::Time now) {
  if (!IsRolloutState(state)) {
    return absl::InvalidArgumentError("rollout " + id + ": unknown state '" + state + "'");
  }
  ReentrantLock lock(&mu_);
  return InTxn([&]() -> absl::Status {
    ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                     Prepare("UPDATE rollouts SET state = ?1, rc = ?2, "
                             "recap_json = CASE WHEN ?3 = '' THEN recap_json ELSE ?3 END, "
                             "updated_us = ?4 WHERE id = ?5"));
    Stmt st(this, raw);
    st.Bind(1, state);
    st.Bind(2, static_cast<int64_t>(rc));
    st.Bind(3, recap_json);
    st.Bind(4, ToMicros(OrNow(now)));
    st.Bind(5, id);
    RETURN_IF_ERROR(st.Run());
    if (sqlite3_changes(db_.get()) == 0) return absl::NotFoundError("no rollout " + id);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<RolloutRecord>> SqliteStore::GetRollout(const std::string& id) {
  ReentrantLock lock(&mu_);
  ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                   Prepare(absl::StrCat("SELECT ", kRolloutColumns, " FROM rollouts WHERE id = ?")));
  Stmt st(this, raw);
  st.Bind(1, id);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<RolloutRecord>();
  return std::optional<RolloutRecord>(ReadRolloutRow(&st));
}

absl::StatusOr<std::vector<RolloutRecord>> SqliteStore::ListRollouts(
    const std::vector<std::string>& states) {
  for (const auto& s : states) {
    if (!IsRolloutState(s)) return absl::InvalidArgumentError("unknown rollout state '" + s + "'");
  }
  std::string sql = absl::StrCat("SELECT ", kRolloutColumns, " FROM rollouts WHERE 1");
  if (!states.empty()) {
    std::vector<std::string> marks(states.size(), "?");
    absl::StrAppend(&sql, " AND state IN (", absl::StrJoin(marks, ", "), ")");
  }
  absl::StrAppend(&sql, " ORDER BY created_us DESC, id DESC");
  ReentrantLock lock(&mu_);
  ASSIGN_OR_RETURN(sqlite3_stmt * raw, Prepare(sql));
  Stmt st(this, raw);
  int i = 1;
  for (const auto& s : states) st.Bind(i++, s);
  std::vector<RolloutRecord> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(ReadRolloutRow(&st));
  }
  return out;
}

// ---- Events ----

absl::StatusOr<EventRecord> SqliteStore::AppendEvent(EventRecord event) {
  if (event.type.empty()) return absl::InvalidArgumentError("event type is empty");
  event.ts = OrNow(event.ts);
  if (event.data_json.empty()) event.data_json = "{}";
  ReentrantLock lock(&mu_);
  // The lock serialises appenders and the seq bump shares the insert's transaction, so seqs are
  // gap-free: a failed insert rolls the bump back with it.
  return InTxn([&]() -> absl::StatusOr<EventRecord> {
    {
      ASSIGN_OR_RETURN(sqlite3_stmt * raw, Prepare("UPDATE meta SET value = value + 1 "
                                                   "WHERE key = 'last_event_seq' RETURNING value"));
      Stmt st(this, raw);
      ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) return absl::DataLossError("meta.last_event_seq is missing");
      event.seq = static_cast<uint64_t>(st.Int(0));
      RETURN_IF_ERROR(st.Run());
    }
    ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                     Prepare("INSERT INTO events (seq, ts_us, type, host, jid, rollout, "
                             "data_json) VALUES (?, ?, ?, ?, ?, ?, ?)"));
    Stmt st(this, raw);
    st.Bind(1, static_cast<int64_t>(event.seq));
    st.Bind(2, ToMicros(event.ts));
    st.Bind(3, event.type);
    st.Bind(4, event.host);
    st.Bind(5, event.jid);
    st.Bind(6, event.rollout);
    st.Bind(7, event.data_json);
    RETURN_IF_ERROR(st.Run());
    return event;
  });
}

absl::StatusOr<std::vector<EventRecord>> SqliteStore::ReadEvents(const EventFilter& filter) {
  // Separate statements per filter shape, so each uses its own index ((host, seq) or
  // (rollout, seq)) instead of an "? = '' OR host = ?" that defeats the planner.
  std::string sql =
      "SELECT seq, ts_us, type, host, jid, rollout, data_json FROM events WHERE seq > ?";
  if (!filter.host.empty()) absl::StrAppend(&sql, " AND host = ?");
  if (!filter.rollout.empty()) absl::StrAppend(&sql, " AND rollout = ?");
  if (!filter.jid.empty()) absl::StrAppend(&sql, " AND jid = ?");
  absl::StrAppend(&sql, " ORDER BY seq LIMIT ?");

  ReentrantLock lock(&mu_);
  ASSIGN_OR_RETURN(sqlite3_stmt * raw, Prepare(sql));
  Stmt st(this, raw);
  int i = 1;
  st.Bind(i++, ClampToInt64(filter.since_seq));
  if (!filter.host.empty()) st.Bind(i++, filter.host);
  if (!filter.rollout.empty()) st.Bind(i++, filter.rollout);
  if (!filter.jid.empty()) st.Bind(i++, filter.jid);
  st.Bind(i++, ClampToInt64(filter.limit));
  std::vector<EventRecord> events;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    EventRecord e;
    e.seq = static_cast<uint64_t>(st.Int(0));
    e.ts = FromMicros(st.Int(1));
    e.type = st.Text(2);
    e.host = st.Text(3);
    e.jid = st.Text(4);
    e.rollout = st.Text(5);
    e.data_json = st.Text(6);
    events.push_back(std::move(e));
  }
  return events;
}

absl::StatusOr<uint64_t> SqliteStore::LastEventSeq() {
  ReentrantLock lock(&mu_);
  ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                   Prepare("SELECT value FROM meta WHERE key = 'last_event_seq'"));
  Stmt st(this, raw);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return absl::DataLossError("meta.last_event_seq is missing");
  return static_cast<uint64_t>(st.Int(0));
}

absl::StatusOr<bool> SqliteStore::ApplyAgentEvent(const std::string& agent, uint64_t seq,
                                                  const std::function<absl::Status()>& apply) {
  if (agent.empty()) return absl::InvalidArgumentError("agent name is empty");
  if (seq > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return absl::InvalidArgumentError(absl::StrCat("agent event seq ", seq, " out of range"));
  }
  // Held across apply(): other threads wait, and apply's own store calls re-enter on this thread
  // and join the transaction as savepoints.
  ReentrantLock lock(&mu_);
  return InTxn([&]() -> absl::StatusOr<bool> {
    {
      ASSIGN_OR_RETURN(
          sqlite3_stmt * raw,
          Prepare("INSERT INTO agents (name) VALUES (?) ON CONFLICT (name) DO NOTHING"));
      Stmt st(this, raw);
      st.Bind(1, agent);
      RETURN_IF_ERROR(st.Run());
    }
    {
      // Scoped so the cached statement is reset before apply() might need it again.
      ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                       Prepare("SELECT last_event_seq FROM agents WHERE name = ?"));
      Stmt st(this, raw);
      st.Bind(1, agent);
      ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) return absl::InternalError("agent row vanished inside its transaction");
      if (seq <= static_cast<uint64_t>(st.Int(0))) return false;
    }
    RETURN_IF_ERROR(apply());
    ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                     Prepare("UPDATE agents SET last_event_seq = ? WHERE name = ?"));
    Stmt st(this, raw);
    st.Bind(1, static_cast<int64_t>(seq));
    st.Bind(2, agent);
    RETURN_IF_ERROR(st.Run());
    return true;
  });
}

absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const std::string& state_dir) {
  ASSIGN_OR_RETURN(std::unique_ptr<SqliteStore> store, SqliteStore::Create(state_dir));
  return std::unique_ptr<Store>(std::move(store));
}

// ---- Enrollment tokens, issued certificates, revocations ----

absl::Status SqliteStore::CreateToken(const TokenRecord& token) {
  if (token.id.empty()) return absl::InvalidArgumentError("token id is empty");
  ReentrantLock lock(&mu_);
  return InTxn([&]() -> absl::Status {
    ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                     Prepare("INSERT INTO enroll_tokens (id, secret_sha256, name, replace_ok, "
                             "uses_left, expires_us, created_us) VALUES (?, ?, ?, ?, ?, ?, ?)"));
    Stmt st(this, raw);
    st.Bind(1, token.id);
    st.Bind(2, token.secret_sha256);
    st.Bind(3, token.name);
    st.Bind(4, int64_t{token.replace ? 1 : 0});
    st.Bind(5, token.uses_left);
    st.Bind(6, ToMicros(token.expires));
    st.Bind(7, ToMicros(OrNow(token.created)));
    return st.Run();
  });
}

absl::StatusOr<std::optional<TokenRecord>> SqliteStore::GetToken(const std::string& id) {
  ReentrantLock lock(&mu_);
  ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                   Prepare("SELECT id, secret_sha256, name, replace_ok, uses_left, expires_us, "
                           "created_us FROM enroll_tokens WHERE id = ?"));
  Stmt st(this, raw);
  st.Bind(1, id);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<TokenRecord>();
  TokenRecord t;
  t.id = st.Text(0);
  t.secret_sha256 = st.Text(1);
  t.name = st.Text(2);
  t.replace = st.Int(3) != 0;
  t.uses_left = st.Int(4);
  t.expires = FromMicros(st.Int(5));
  t.created = FromMicros(st.Int(6));
  return std::optional<TokenRecord>(std::move(t));
}

absl::StatusOr<bool> SqliteStore::UseToken(const std::string& id, absl::Time now) {
  ReentrantLock lock(&mu_);
  return InTxn([&]() -> absl::StatusOr<bool> {
    ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                     Prepare("UPDATE enroll_tokens SET uses_left = uses_left - 1 "
                             "WHERE id = ? AND uses_left > 0 AND expires_us > ?"));
    Stmt st(this, raw);
    st.Bind(1, id);
    st.Bind(2, ToMicros(OrNow(now)));
    RETURN_IF_ERROR(st.Run());
    return sqlite3_changes(db_.get()) == 1;
  });
}

absl::Status SqliteStore::RecordIssuedCert(const IssuedCertRecord& cert) {
  if (cert.serial_hex.empty()) return absl::InvalidArgumentError("certificate serial is empty");
  ReentrantLock lock(&mu_);
  return InTxn([&]() -> absl::Status {
    ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                     Prepare("INSERT INTO issued_certs (serial, name, issued_us, not_after_us, "
                             "via) VALUES (?, ?, ?, ?, ?)"));
    Stmt st(this, raw);
    st.Bind(1, cert.serial_hex);
    st.Bind(2, cert.name);
    st.Bind(3, ToMicros(OrNow(cert.issued)));
    st.Bind(4, ToMicros(cert.not_after));
    st.Bind(5, cert.via);
    return st.Run();
  });
}

namespace {
constexpr char kIssuedColumns[] = "serial, name, issued_us, not_after_us, via";
}  // namespace

absl::StatusOr<std::optional<IssuedCertRecord>> SqliteStore::GetIssuedCert(
    const std::string& serial_hex) {
  ReentrantLock lock(&mu_);
  ASSIGN_OR_RETURN(
      sqlite3_stmt * raw,
      Prepare(absl::StrCat("SELECT ", kIssuedColumns, " FROM issued_certs WHERE serial = ?")));
  Stmt st(this, raw);
  st.Bind(1, serial_hex);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<IssuedCertRecord>();
  return std::optional<IssuedCertRecord>(IssuedCertRecord{
      st.Text(0), st.Text(1), FromMicros(st.Int(2)), FromMicros(st.Int(3)), st.Text(4)});
}

absl::StatusOr<std::optional<IssuedCertRecord>> SqliteStore::LatestIssuedCert(
    const std::string& name) {
  ReentrantLock lock(&mu_);
  ASSIGN_OR_RETURN(sqlite3_stmt * raw, Prepare(absl::StrCat("SELECT ", kIssuedColumns,
                                                            " FROM issued_certs WHERE name = ? "
                                                            "ORDER BY issued_us DESC LIMIT 1")));
  Stmt st(this, raw);
  st.Bind(1, name);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<IssuedCertRecord>();
  return std::optional<IssuedCertRecord>(IssuedCertRecord{
      st.Text(0), st.Text(1), FromMicros(st.Int(2)), FromMicros(st.Int(3)), st.Text(4)});
}

absl::Status SqliteStore::RevokeAgent(const std::string& name, absl::Time when) {
  if (name.empty()) return absl::InvalidArgumentError("agent name is empty");
  ReentrantLock lock(&mu_);
  return InTxn([&]() -> absl::Status {
    ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                     Prepare("INSERT INTO revocations (name, revoked_us) VALUES (?, ?) "
                             "ON CONFLICT (name) DO UPDATE SET "
                             "revoked_us = MAX(revoked_us, excluded.revoked_us)"));
    Stmt st(this, raw);
    st.Bind(1, name);
    st.Bind(2, ToMicros(OrNow(when)));
    return st.Run();
  });
}

absl::StatusOr<std::optional<absl::Time>> SqliteStore::GetRevocation(const std::string& name) {
  ReentrantLock lock(&mu_);
  ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                   Prepare("SELECT revoked_us FROM revocations WHERE name = ?"));
  Stmt st(this, raw);
  st.Bind(1, name);
  ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<absl::Time>();
  return std::optional<absl::Time>(FromMicros(st.Int(0)));
}

absl::StatusOr<std::vector<std::pair<std::string, absl::Time>>> SqliteStore::ListRevocations() {
  ReentrantLock lock(&mu_);
  ASSIGN_OR_RETURN(sqlite3_stmt * raw,
                   Prepare("SELECT name, revoked_us FROM revocations ORDER BY name"));
  Stmt st(this, raw);
  std::vector<std::pair<std::string, absl::Time>> out;
  while (true) {
    ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.emplace_back(st.Text(0), FromMicros(st.Int(1)));
  }
  return out;
}

}  // namespace tachyon::store
