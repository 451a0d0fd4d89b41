#include "controller/store/sqlite_store.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/barrier.h"
#include "common/fs.h"
#include "controller/store/store.h"
#include "gtest/gtest.h"

namespace tachyon::store {
namespace {

// A fresh state directory per test, removed afterwards.
class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "/tachyon-store-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    // A subdirectory that does not exist yet, so Open has to create it.
    state_dir_ = root_ + "/state";
  }
  void TearDown() override { ASSERT_TRUE(RemoveTree(root_).ok()); }

  std::unique_ptr<Store> Open() {
    auto store = OpenSqliteStore(state_dir_);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? std::move(store).value() : nullptr;
  }
  std::string DbPath() const { return state_dir_ + "/tachyon.db"; }

  static mode_t Mode(const std::string& path) {
    struct stat st;
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }

  // Runs one statement on a separate raw connection and returns the first column of the first
  // row as text: an outside view of the file.
  std::string RawQuery(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(DbPath().c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    std::string out;
    if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != nullptr) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return out;
  }

  static JobRecord Job(const std::string& jid, const std::string& host) {
    JobRecord j;
    j.jid = jid;
    j.host = host;
    j.module = "command";
    j.args_json = R"({"cmd":"true"})";
    j.timeout_seconds = 30;
    return j;
  }

  // The record, or an empty one after a test failure (never undefined behaviour).
  static JobRecord JobOf(Store& store, const std::string& jid) {
    auto job = store.GetJob(jid);
    EXPECT_TRUE(job.ok() && job->has_value()) << "no job " << jid;
    return job.ok() && job->has_value() ? **job : JobRecord{};
  }
  static AgentRecord AgentOf(Store& store, const std::string& name) {
    auto agent = store.GetAgent(name);
    EXPECT_TRUE(agent.ok() && agent->has_value()) << "no agent " << name;
    return agent.ok() && agent->has_value() ? **agent : AgentRecord{};
  }

  static EventRecord Event(const std::string& type, const std::string& host,
                           const std::string& rollout = "") {
    EventRecord e;
    e.type = type;
    e.host = host;
    e.rollout = rollout;
    return e;
  }

  std::string root_;
  std::string state_dir_;
};

TEST_F(SqliteStoreTest, CreatesPrivateDirectoryAndFiles) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->AppendEvent(Event("agent_connected", "web1")).ok());
  EXPECT_EQ(Mode(state_dir_), 0700u);
  EXPECT_EQ(Mode(DbPath()), 0600u);
  // SQLite gives the WAL and shared-memory files the database's mode.
  EXPECT_EQ(Mode(DbPath() + "-wal"), 0600u);
  EXPECT_EQ(Mode(DbPath() + "-shm"), 0600u);
}

TEST_F(SqliteStoreTest, TightensExistingLooseFile) {
  ASSERT_TRUE(MakeDirs(state_dir_).ok());
  ASSERT_TRUE(WriteFileAtomic(DbPath(), "", 0644).ok());
  ASSERT_EQ(Mode(DbPath()), 0644u);
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(Mode(DbPath()), 0600u);
}

TEST_F(SqliteStoreTest, WalModeAndSchemaVersion) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  // journal_mode=WAL is persistent in the file, so an outside connection sees it too.
  EXPECT_EQ(RawQuery("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(RawQuery("PRAGMA user_version"), std::to_string(SqliteStore::kSchemaVersion));
}

TEST_F(SqliteStoreTest, RefusesNewerSchema) {
  { ASSERT_NE(Open(), nullptr); }
  RawQuery("PRAGMA user_version = 99");
  auto store = OpenSqliteStore(state_dir_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
  EXPECT_NE(store.status().message().find("v99"), std::string::npos) << store.status();
}

TEST_F(SqliteStoreTest, RefusesGarbageFile) {
  ASSERT_TRUE(MakeDirs(state_dir_).ok());
  ASSERT_TRUE(WriteFileAtomic(DbPath(), std::string(8192, 'x')).ok());
  auto store = OpenSqliteStore(state_dir_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss) << store.status();
}

TEST_F(SqliteStoreTest, ReopenPersistsEverything) {
  std::string jid;
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    AgentRecord a;
    a.name = "web1";
    a.groups = {"web", "prod"};
    a.version = "0.1.0";
    a.facts_json = R"({"os":"debian"})";
    a.connected = true;
    a.last_seen = absl::FromUnixMicros(1700000000123456);
    ASSERT_TRUE(store->UpsertAgent(a).ok());

    auto id = store->NewJobId();
    ASSERT_TRUE(id.ok());
    jid = *id;
    JobRecord j = Job(jid, "web1");
    j.rollout_id = "r1";
    j.created = absl::FromUnixMicros(1700000000000001);
    ASSERT_TRUE(store->CreateJob(j).ok());
    ASSERT_TRUE(
        store->UpdateJob(jid, "running", "", absl::FromUnixMicros(1700000000000002)).value());

    EventRecord e = Event("job_dispatched", "web1", "r1");
    e.jid = jid;
    e.data_json = R"({"x":1})";
    e.ts = absl::FromUnixMicros(1700000000000003);
    ASSERT_TRUE(store->AppendEvent(e).ok());
    ASSERT_TRUE(store->ApplyAgentEvent("web1", 7, [] { return absl::OkStatus(); }).value());
  }
  auto store = Open();
  ASSERT_NE(store, nullptr);

  auto agent = store->GetAgent("web1");
  ASSERT_TRUE(agent.ok());
  ASSERT_TRUE(agent->has_value());
  EXPECT_EQ((*agent)->groups, (std::vector<std::string>{"web", "prod"}));
  EXPECT_EQ((*agent)->version, "0.1.0");
  EXPECT_EQ((*agent)->facts_json, R"({"os":"debian"})");
  EXPECT_TRUE((*agent)->connected);
  EXPECT_EQ((*agent)->last_seen, absl::FromUnixMicros(1700000000123456));
  EXPECT_EQ((*agent)->last_event_seq, 7u);

  auto job = store->GetJob(jid);
  ASSERT_TRUE(job.ok());
  ASSERT_TRUE(job->has_value());
  EXPECT_EQ((*job)->host, "web1");
  EXPECT_EQ((*job)->module, "command");
  EXPECT_EQ((*job)->args_json, R"({"cmd":"true"})");
  EXPECT_EQ((*job)->timeout_seconds, 30);
  EXPECT_EQ((*job)->state, "running");
  EXPECT_EQ((*job)->rollout_id, "r1");
  EXPECT_EQ((*job)->created, absl::FromUnixMicros(1700000000000001));
  EXPECT_EQ((*job)->updated, absl::FromUnixMicros(1700000000000002));

  auto events = store->ReadEvents({});
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].seq, 1u);
  EXPECT_EQ((*events)[0].type, "job_dispatched");
  EXPECT_EQ((*events)[0].jid, jid);
  EXPECT_EQ((*events)[0].rollout, "r1");
  EXPECT_EQ((*events)[0].data_json, R"({"x":1})");
  EXPECT_EQ((*events)[0].ts, absl::FromUnixMicros(1700000000000003));
  // The sequence resumes where it left off.
  auto next = store->AppendEvent(Event("job_finished", "web1"));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->seq, 2u);
}

TEST_F(SqliteStoreTest, JobIdsAreAnsibleShapedAndUniqueAcrossReopen) {
  const std::regex shape(R"(^j\d+\.\d+$)");
  std::set<std::string> ids;
  for (int round = 0; round < 3; ++round) {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    for (int i = 0; i < 200; ++i) {
      auto id = store->NewJobId();
      ASSERT_TRUE(id.ok()) << id.status();
      EXPECT_TRUE(std::regex_match(*id, shape)) << *id;
      EXPECT_TRUE(ids.insert(*id).second) << "duplicate " << *id;
    }
  }
  EXPECT_EQ(ids.size(), 600u);
  // The counter is persisted: the last round continued from 401, not from 1.
  EXPECT_EQ(RawQuery("SELECT value FROM meta WHERE key = 'job_counter'"), "600");
}

TEST_F(SqliteStoreTest, JobIdsStayUniqueWhenTheirTransactionRollsBack) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  std::string inside;
  auto applied = store->ApplyAgentEvent("web1", 1, [&] {
    auto id = store->NewJobId();
    if (!id.ok()) return id.status();
    inside = *id;
    return absl::InternalError("boom");
  });
  ASSERT_FALSE(applied.ok());
  ASSERT_FALSE(inside.empty());
  auto after = store->NewJobId();
  ASSERT_TRUE(after.ok());
  EXPECT_NE(*after, inside);
}

TEST_F(SqliteStoreTest, CreateJobValidatesAndRefusesDuplicates) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateJob(Job("j1.1", "web1")).ok());
  EXPECT_EQ(store->CreateJob(Job("j1.1", "web2")).code(), absl::StatusCode::kAlreadyExists);
  JobRecord bad = Job("j2.1", "web1");
  bad.state = "bogus";
  EXPECT_EQ(store->CreateJob(bad).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->CreateJob(Job("j3.1", "")).code(), absl::StatusCode::kInvalidArgument);
  auto missing = store->GetJob("j9.9");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

TEST_F(SqliteStoreTest, UpdateJobRecordsTheFinalResultExactlyOnce) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateJob(Job("j1.1", "web1")).ok());
  absl::Time t = absl::FromUnixSeconds(1700000000);

  EXPECT_TRUE(store->UpdateJob("j1.1", "running", "", t).value());
  // A stale "pending" must not undo "running".
  EXPECT_FALSE(store->UpdateJob("j1.1", "pending", "", t).value());
  EXPECT_EQ(JobOf(*store, "j1.1").state, "running");

  EXPECT_TRUE(store->UpdateJob("j1.1", "succeeded", R"({"rc":0})", t + absl::Seconds(1)).value());
  EXPECT_FALSE(store->UpdateJob("j1.1", "failed", R"({"rc":1})", t + absl::Seconds(2)).value());
  EXPECT_FALSE(store->UpdateJob("j1.1", "running", "", t + absl::Seconds(3)).value());
  auto job = store->GetJob("j1.1");
  ASSERT_TRUE(job.ok());
  EXPECT_EQ((*job)->state, "succeeded");
  EXPECT_EQ((*job)->result_json, R"({"rc":0})");
  EXPECT_EQ((*job)->updated, t + absl::Seconds(1));

  EXPECT_EQ(store->UpdateJob("j9.9", "running", "", t).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store->UpdateJob("j1.1", "bogus", "", t).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SqliteStoreTest, ConcurrentFinalisersOnlyOneWins) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateJob(Job("j1.1", "web1")).ok());
  const std::vector<std::string> finals = {"succeeded", "failed", "timed_out", "lost"};
  absl::Barrier* start = new absl::Barrier(static_cast<int>(finals.size()));
  std::vector<int> won(finals.size(), 0);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < finals.size(); ++i) {
    threads.emplace_back([&, i] {
      if (start->Block()) delete start;
      auto r = store->UpdateJob("j1.1", finals[i], "{}", absl::Now());
      won[i] = r.ok() && *r ? 1 : 0;
    });
  }
  for (auto& t : threads) t.join();
  int winners = 0;
  std::string winner;
  for (size_t i = 0; i < finals.size(); ++i) {
    winners += won[i];
    if (won[i]) winner = finals[i];
  }
  EXPECT_EQ(winners, 1);
  EXPECT_EQ(JobOf(*store, "j1.1").state, winner);
}

TEST_F(SqliteStoreTest, ListAndDeleteJobs) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  absl::Time t = absl::FromUnixSeconds(1700000000);
  const char* ids[] = {"j1.1", "j2.1", "j3.1", "j4.1"};
  for (int i = 0; i < 4; ++i) {
    JobRecord j = Job(ids[i], i < 3 ? "web1" : "web2");
    j.created = t + absl::Seconds(i);
    ASSERT_TRUE(store->CreateJob(j).ok());
  }
  ASSERT_TRUE(store->UpdateJob("j2.1", "running", "", t).value());

  auto pending = store->ListJobs("web1", {"pending"});
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].jid, "j1.1");
  EXPECT_EQ((*pending)[1].jid, "j3.1");
  EXPECT_EQ(store->ListJobs("web1", {"pending", "running"}).value().size(), 3u);
  EXPECT_EQ(store->ListJobs("web1", {}).value().size(), 3u);
  EXPECT_EQ(store->ListJobs("", {"pending"}).value().size(), 3u);
  EXPECT_EQ(store->ListJobs("web3", {}).value().size(), 0u);
  EXPECT_EQ(store->ListJobs("web1", {"bogus"}).status().code(), absl::StatusCode::kInvalidArgument);

  ASSERT_TRUE(store->DeleteJob("j1.1").ok());
  EXPECT_EQ(store->DeleteJob("j1.1").code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(store->GetJob("j1.1").value().has_value());
}

TEST_F(SqliteStoreTest, EventSeqIsGapFreeUnderConcurrentAppenders) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 250;
  absl::Barrier* start = new absl::Barrier(kThreads);
  std::vector<std::vector<uint64_t>> seqs(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      if (start->Block()) delete start;
      for (int i = 0; i < kPerThread; ++i) {
        auto e = store->AppendEvent(Event("output", "host" + std::to_string(t)));
        ASSERT_TRUE(e.ok()) << e.status();
        seqs[t].push_back(e->seq);
      }
    });
  }
  for (auto& th : threads) th.join();

  std::set<uint64_t> all;
  for (const auto& s : seqs) {
    // Each thread sees its own appends in increasing order.
    EXPECT_TRUE(std::is_sorted(s.begin(), s.end()));
    all.insert(s.begin(), s.end());
  }
  ASSERT_EQ(all.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(*all.begin(), 1u);
  EXPECT_EQ(*all.rbegin(), static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(store->LastEventSeq().value(), static_cast<uint64_t>(kThreads * kPerThread));

  EventFilter f;
  f.limit = 10000;
  auto events = store->ReadEvents(f);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), static_cast<size_t>(kThreads * kPerThread));
  for (size_t i = 0; i < events->size(); ++i) EXPECT_EQ((*events)[i].seq, i + 1);
}

TEST_F(SqliteStoreTest, AppendEventFillsTimestamp) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  absl::Time before = absl::Now();
  auto e = store->AppendEvent(Event("agent_connected", "web1"));
  ASSERT_TRUE(e.ok());
  EXPECT_GE(e->ts, before - absl::Microseconds(1));
  EXPECT_EQ(e->data_json, "{}");
  EventRecord unset = Event("agent_connected", "web1");
  unset.ts = absl::InfinitePast();
  auto e2 = store->AppendEvent(unset);
  ASSERT_TRUE(e2.ok());
  EXPECT_GE(e2->ts, before - absl::Microseconds(1));
  EXPECT_EQ(store->AppendEvent(Event("", "web1")).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SqliteStoreTest, ReadEventsFiltersAndLimits) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  // seq: 1 web1/r1, 2 web2/r1, 3 web1/r2, 4 web2/-, 5 web1/r1, 6 web1/-
  ASSERT_TRUE(store->AppendEvent(Event("a", "web1", "r1")).ok());
  ASSERT_TRUE(store->AppendEvent(Event("a", "web2", "r1")).ok());
  ASSERT_TRUE(store->AppendEvent(Event("a", "web1", "r2")).ok());
  ASSERT_TRUE(store->AppendEvent(Event("a", "web2")).ok());
  ASSERT_TRUE(store->AppendEvent(Event("a", "web1", "r1")).ok());
  ASSERT_TRUE(store->AppendEvent(Event("a", "web1")).ok());

  auto seqs = [&](const EventFilter& f) {
    std::vector<uint64_t> out;
    auto events = store->ReadEvents(f);
    EXPECT_TRUE(events.ok()) << events.status();
    if (events.ok()) {
      for (const auto& e : *events) out.push_back(e.seq);
    }
    return out;
  };
  using V = std::vector<uint64_t>;
  EventFilter f;
  EXPECT_EQ(seqs(f), (V{1, 2, 3, 4, 5, 6}));
  f.since_seq = 3;
  EXPECT_EQ(seqs(f), (V{4, 5, 6}));
  f = EventFilter();
  f.host = "web1";
  EXPECT_EQ(seqs(f), (V{1, 3, 5, 6}));
  f.rollout = "r1";
  EXPECT_EQ(seqs(f), (V{1, 5}));
  f.since_seq = 1;
  EXPECT_EQ(seqs(f), (V{5}));
  f = EventFilter();
  f.rollout = "r1";
  EXPECT_EQ(seqs(f), (V{1, 2, 5}));
  f = EventFilter();
  f.limit = 2;
  EXPECT_EQ(seqs(f), (V{1, 2}));
  f.since_seq = 2;
  EXPECT_EQ(seqs(f), (V{3, 4}));
  f.since_seq = 6;
  EXPECT_EQ(seqs(f), V{});
  f = EventFilter();
  f.host = "nobody";
  EXPECT_EQ(seqs(f), V{});
}

TEST_F(SqliteStoreTest, ApplyAgentEventDropsDuplicates) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  int runs = 0;
  auto apply = [&] {
    ++runs;
    return store->AppendEvent(Event("job_finished", "web1")).status();
  };
  // The agent row is created on first sight.
  EXPECT_TRUE(store->ApplyAgentEvent("web1", 1, apply).value());
  EXPECT_TRUE(store->ApplyAgentEvent("web1", 2, apply).value());
  EXPECT_FALSE(store->ApplyAgentEvent("web1", 2, apply).value());
  EXPECT_FALSE(store->ApplyAgentEvent("web1", 1, apply).value());
  // Sequences are per agent.
  EXPECT_TRUE(store->ApplyAgentEvent("web2", 1, apply).value());
  EXPECT_EQ(runs, 3);
  EXPECT_EQ(store->LastEventSeq().value(), 3u);
  EXPECT_EQ(AgentOf(*store, "web1").last_event_seq, 2u);

  // A registry upserting a fresh record on reconnect does not reset duplicate detection.
  AgentRecord fresh;
  fresh.name = "web1";
  ASSERT_TRUE(store->UpsertAgent(fresh).ok());
  EXPECT_FALSE(store->ApplyAgentEvent("web1", 2, apply).value());
  EXPECT_EQ(runs, 3);
}

TEST_F(SqliteStoreTest, ApplyAgentEventRollsBackOnError) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->CreateJob(Job("j1.1", "web1")).ok());
  ASSERT_TRUE(store->ApplyAgentEvent("web1", 1, [] { return absl::OkStatus(); }).value());

  auto failed = store->ApplyAgentEvent("web1", 2, [&]() -> absl::Status {
    auto updated = store->UpdateJob("j1.1", "succeeded", R"({"rc":0})", absl::Now());
    if (!updated.ok()) return updated.status();
    auto e = store->AppendEvent(Event("job_finished", "web1"));
    if (!e.ok()) return e.status();
    return absl::UnavailableError("dispatcher went away");
  });
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(failed.status().message(), "dispatcher went away");

  // Nothing of it stuck: job, event log and the agent's seq are as before.
  EXPECT_EQ(JobOf(*store, "j1.1").state, "pending");
  EXPECT_EQ(store->LastEventSeq().value(), 0u);
  EXPECT_TRUE(store->ReadEvents({}).value().empty());
  EXPECT_EQ(AgentOf(*store, "web1").last_event_seq, 1u);

  // So the agent's replay of seq 2 is applied, and its events take the seqs the failed try
  // would have had.
  EXPECT_TRUE(
      store
          ->ApplyAgentEvent("web1", 2,
                            [&]() -> absl::Status {
                              auto updated =
                                  store->UpdateJob("j1.1", "succeeded", R"({"rc":0})", absl::Now());
                              if (!updated.ok()) return updated.status();
                              return store->AppendEvent(Event("job_finished", "web1")).status();
                            })
          .value());
  EXPECT_EQ(JobOf(*store, "j1.1").state, "succeeded");
  EXPECT_EQ(store->LastEventSeq().value(), 1u);
}

TEST_F(SqliteStoreTest, ApplyAgentEventKeepsOtherThreadsOut) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  // While one thread is inside apply(), appends from other threads wait for the transaction, so
  // they never see (or interleave with) its uncommitted seqs: all seqs stay gap-free even though
  // some applies roll back.
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50;
  absl::Barrier* start = new absl::Barrier(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      if (start->Block()) delete start;
      std::string agent = "agent" + std::to_string(t);
      for (int i = 1; i <= kPerThread; ++i) {
        auto r = store->ApplyAgentEvent(agent, static_cast<uint64_t>(i), [&]() -> absl::Status {
          auto e = store->AppendEvent(Event("output", agent));
          if (!e.ok()) return e.status();
          if (i % 5 == 0) return absl::AbortedError("odd one out");
          return absl::OkStatus();
        });
        EXPECT_EQ(r.ok(), i % 5 != 0);
      }
    });
  }
  for (auto& th : threads) th.join();
  uint64_t expected = kThreads * (kPerThread - kPerThread / 5);
  EXPECT_EQ(store->LastEventSeq().value(), expected);
  EventFilter f;
  f.limit = 100000;
  auto events = store->ReadEvents(f);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), expected);
  for (size_t i = 0; i < events->size(); ++i) EXPECT_EQ((*events)[i].seq, i + 1);
}

TEST_F(SqliteStoreTest, ApplyAgentEventPersistsAcrossReopen) {
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->ApplyAgentEvent("web1", 5, [] { return absl::OkStatus(); }).value());
  }
  auto store = Open();
  ASSERT_NE(store, nullptr);
  bool ran = false;
  EXPECT_FALSE(store
                   ->ApplyAgentEvent("web1", 5,
                                     [&] {
                                       ran = true;
                                       return absl::OkStatus();
                                     })
                   .value());
  EXPECT_FALSE(ran);
  EXPECT_TRUE(store
                  ->ApplyAgentEvent("web1", 6,
                                    [&] {
                                      ran = true;
                                      return absl::OkStatus();
                                    })
                  .value());
  EXPECT_TRUE(ran);
}

TEST_F(SqliteStoreTest, AgentsUpsertListAndConnected) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  AgentRecord a;
  a.name = "web2";
  a.groups = {"web"};
  a.version = "0.1.0";
  ASSERT_TRUE(store->UpsertAgent(a).ok());
  a.name = "db1";
  a.groups = {"db"};
  ASSERT_TRUE(store->UpsertAgent(a).ok());
  // Upsert replaces the descriptive fields.
  a.name = "web2";
  a.groups = {"web", "canary"};
  a.version = "0.2.0";
  a.facts_json = R"({"cpus":2})";
  ASSERT_TRUE(store->UpsertAgent(a).ok());

  auto agents = store->ListAgents();
  ASSERT_TRUE(agents.ok());
  ASSERT_EQ(agents->size(), 2u);
  EXPECT_EQ((*agents)[0].name, "db1");
  EXPECT_EQ((*agents)[1].name, "web2");
  EXPECT_EQ((*agents)[1].groups, (std::vector<std::string>{"web", "canary"}));
  EXPECT_EQ((*agents)[1].version, "0.2.0");
  EXPECT_EQ((*agents)[1].facts_json, R"({"cpus":2})");
  EXPECT_FALSE((*agents)[1].connected);

  absl::Time t = absl::FromUnixSeconds(1700000100);
  ASSERT_TRUE(store->SetAgentConnected("web2", true, t).ok());
  auto web2 = store->GetAgent("web2");
  ASSERT_TRUE(web2.ok() && web2->has_value());
  EXPECT_TRUE((*web2)->connected);
  EXPECT_EQ((*web2)->last_seen, t);
  ASSERT_TRUE(store->SetAgentConnected("web2", false, t + absl::Seconds(5)).ok());
  EXPECT_FALSE(AgentOf(*store, "web2").connected);
  EXPECT_EQ(AgentOf(*store, "web2").last_seen, t + absl::Seconds(5));

  EXPECT_EQ(store->SetAgentConnected("ghost", true, t).code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(store->GetAgent("ghost").value().has_value());
  AgentRecord nameless;
  EXPECT_EQ(store->UpsertAgent(nameless).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SqliteStoreTest, FullDiskIsResourceExhaustedNotACrash) {
  auto opened = SqliteStore::Create(state_dir_);
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::unique_ptr<SqliteStore> store = std::move(opened).value();
  ASSERT_TRUE(store->AppendEvent(Event("a", "web1")).ok());
  // Cap the file at its current size: the next page it needs is "beyond the disk".
  ASSERT_TRUE(store->SetMaxPageCountForTest(1).ok());

  EventRecord big = Event("output", "web1");
  big.data_json = std::string(1 << 20, 'x');
  auto e = store->AppendEvent(big);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), absl::StatusCode::kResourceExhausted) << e.status();
  EXPECT_NE(e.status().message().find("full"), std::string::npos) << e.status();

  // Inside ApplyAgentEvent the failure rolls everything back, including the seq bump.
  auto applied =
      store->ApplyAgentEvent("web1", 1, [&] { return store->AppendEvent(big).status(); });
  ASSERT_FALSE(applied.ok());
  EXPECT_EQ(applied.status().code(), absl::StatusCode::kResourceExhausted) << applied.status();

  // A callback that ignores the error: whatever SQLite undid (SQLite 3.40 rolls the whole
  // transaction back here; others may undo just the statement), the outcome is all or nothing,
  // never the agent's seq recorded without the work, nor the work committed in pieces.
  auto ignored = store->ApplyAgentEvent("web1", 1, [&] {
    (void)store->AppendEvent(big);
    return store->AppendEvent(Event("small", "web1")).status();
  });
  if (ignored.ok()) {
    EXPECT_TRUE(*ignored);
    EXPECT_EQ(store->LastEventSeq().value(), 2u);
    auto agent = store->GetAgent("web1");
    ASSERT_TRUE(agent.ok() && agent->has_value());
    EXPECT_EQ((*agent)->last_event_seq, 1u);
  } else {
    EXPECT_EQ(ignored.status().code(), absl::StatusCode::kAborted) << ignored.status();
    EXPECT_EQ(store->LastEventSeq().value(), 1u);
    // Even the agent row that ApplyAgentEvent created went with the transaction.
    EXPECT_FALSE(store->GetAgent("web1").value().has_value());
  }
  const uint64_t base = store->LastEventSeq().value();

  // Space comes back: the store carries on, gap-free.
  ASSERT_TRUE(store->SetMaxPageCountForTest(1 << 30).ok());
  auto ok = store->AppendEvent(big);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->seq, base + 1);
  EXPECT_TRUE(store->ApplyAgentEvent("web1", 2, [] { return absl::OkStatus(); }).value());
}

TEST_F(SqliteStoreTest, RolloutsRoundTripAndSurviveReopen) {
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->NewRolloutId().value(), "r1");
    EXPECT_EQ(store->NewRolloutId().value(), "r2");
    RolloutRecord r;
    r.id = "r2";
    r.playbook = "/srv/pb/site.yml";
    r.spec_json = R"({"forks":7})";
    ASSERT_TRUE(store->CreateRollout(r).ok());
    EXPECT_EQ(store->CreateRollout(r).code(), absl::StatusCode::kAlreadyExists);
    r.state = "bogus";
    r.id = "r9";
    EXPECT_EQ(store->CreateRollout(r).code(), absl::StatusCode::kInvalidArgument);

    JobRecord j;
    j.jid = "j1.1";
    j.host = "web01";
    j.module = "command";
    j.rollout_id = "r2";
    j.rollout_key = "00ff#1";
    ASSERT_TRUE(store->CreateJob(j).ok());
    j.jid = "j2.1";
    j.rollout_id = "";
    j.rollout_key = "";
    ASSERT_TRUE(store->CreateJob(j).ok());
  }
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->NewRolloutId().value(), "r3") << "ids are never handed out twice";
  auto got = store->GetRollout("r2").value();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->state, "running");
  EXPECT_EQ(got->rc, -1);
  EXPECT_EQ(got->spec_json, R"({"forks":7})");
  EXPECT_EQ(store->ListRollouts({"running"}).value().size(), 1u);
  EXPECT_EQ(store->ListRollouts({"finished"}).value().size(), 0u);

  ASSERT_TRUE(store->UpdateRollout("r2", "finished", 2, R"({"web01":{}})", absl::Now()).ok());
  got = store->GetRollout("r2").value();
  EXPECT_EQ(got->state, "finished");
  EXPECT_EQ(got->rc, 2);
  EXPECT_EQ(got->recap_json, R"({"web01":{}})");
  EXPECT_EQ(store->UpdateRollout("r7", "finished", 0, "", absl::Now()).code(),
            absl::StatusCode::kNotFound);
  EXPECT_FALSE(store->GetRollout("r7").value().has_value());

  auto jobs = store->ListRolloutJobs("r2").value();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].jid, "j1.1");
  EXPECT_EQ(jobs[0].rollout_key, "00ff#1");
}

}  // namespace
}  // namespace tachyon::store
