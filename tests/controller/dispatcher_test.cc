// The dispatcher and exec sessions against a real SQLite store in a temp dir, with fake agent
// links instead of gRPC streams.

#include "controller/dispatcher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/fs.h"
#include "controller/event_bus.h"
#include "controller/exec_session.h"
#include "tests/fakes/fake_agent_link.h"

namespace tachyon::controller {
namespace {

using nlohmann::json;
using testing::FakeAgentLink;

class DispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tachyon-dispatcher-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto s = store::OpenSqliteStore(dir_);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = *std::move(s);
    bus_ = std::make_unique<EventBus>(store_.get());
    dispatcher_ = std::make_unique<Dispatcher>(store_.get(), bus_.get());
  }
  void TearDown() override {
    dispatcher_.reset();
    bus_.reset();
    store_.reset();
    ASSERT_TRUE(RemoveTree(dir_).ok());
  }

  std::shared_ptr<FakeAgentLink> Connect(const std::string& name,
                                         std::vector<std::string> groups = {},
                                         std::vector<std::string> known = {}) {
    auto link = std::make_shared<FakeAgentLink>();
    AgentHello hello;
    hello.version = "test";
    hello.groups = std::move(groups);
    hello.known_jids = std::move(known);
    EXPECT_TRUE(dispatcher_->AgentConnected(name, hello, link).ok());
    return link;
  }

  std::vector<store::EventRecord> Events(const std::string& type) {
    store::EventFilter f;
    f.limit = 10000;
    auto all = store_->ReadEvents(f);
    EXPECT_TRUE(all.ok());
    std::vector<store::EventRecord> out;
    for (auto& e : *all) {
      if (e.type == type) out.push_back(e);
    }
    return out;
  }

  AgentJobEvent Finished(uint64_t seq, const std::string& jid, const std::string& state,
                         json result) {
    AgentJobEvent e;
    e.seq = seq;
    e.jid = jid;
    e.kind = AgentJobEvent::Kind::kFinished;
    e.state = state;
    e.result_json = result.dump();
    return e;
  }

  std::string dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<EventBus> bus_;
  std::unique_ptr<Dispatcher> dispatcher_;
};

TEST_F(DispatcherTest, DispatchStartFinish) {
  auto link = Connect("web01");
  DispatchRequest req;
  req.module = "command";
  req.args_json = R"({"argv":["true"]})";
  auto jid = dispatcher_->StartJob("web01", req);
  ASSERT_TRUE(jid.ok());
  EXPECT_THAT(*jid, ::testing::MatchesRegex("^j[0-9]+\\.[0-9]+$"));
  bus_->Flush();  // a job is sent once it is on disk, by the bus's sync thread
  ASSERT_EQ(link->dispatches().size(), 1u);
  EXPECT_EQ(link->dispatches()[0].jid, *jid);

  auto status = dispatcher_->JobStatus(*jid);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->first.state, "pending");
  EXPECT_EQ(status->second["finished"], 0);

  AgentJobEvent started;
  started.seq = 1;
  started.jid = *jid;
  started.kind = AgentJobEvent::Kind::kStarted;
  ASSERT_TRUE(dispatcher_->HandleJobEvent("web01", started).ok());
  EXPECT_EQ(dispatcher_->JobStatus(*jid)->first.state, "running");

  ASSERT_TRUE(
      dispatcher_
          ->HandleJobEvent("web01", Finished(2, *jid, "succeeded", {{"rc", 0}, {"changed", true}}))
          .ok());
  status = dispatcher_->JobStatus(*jid);
  EXPECT_EQ(status->first.state, "succeeded");
  EXPECT_EQ(status->second["rc"], 0);
  EXPECT_EQ(status->second["finished"], 1);
  EXPECT_EQ(status->second["ansible_job_id"], *jid);
  auto finished = Events("job_finished");
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(json::parse(finished[0].data_json)["status"], "changed");
}

TEST_F(DispatcherTest, DuplicateEventsRecordOneResult) {
  Connect("web01");
  auto jid = dispatcher_->StartJob("web01", {});
  ASSERT_TRUE(jid.ok());
  auto ev = Finished(5, *jid, "failed", {{"rc", 1}, {"failed", true}});
  ASSERT_TRUE(dispatcher_->HandleJobEvent("web01", ev).ok());
  ASSERT_TRUE(dispatcher_->HandleJobEvent("web01", ev).ok());  // replay after a reconnect
  // A second, different final result (new seq) is ignored too: the first one stands.
  ASSERT_TRUE(
      dispatcher_->HandleJobEvent("web01", Finished(6, *jid, "succeeded", {{"rc", 0}})).ok());
  EXPECT_EQ(Events("job_finished").size(), 1u);
  EXPECT_EQ(dispatcher_->JobStatus(*jid)->first.state, "failed");
}

TEST_F(DispatcherTest, AgentCannotReportOnAnotherAgentsJob) {
  Connect("web01");
  Connect("web02");
  auto jid = dispatcher_->StartJob("web01", {});
  ASSERT_TRUE(jid.ok());
  auto st = dispatcher_->HandleJobEvent("web02", Finished(1, *jid, "succeeded", {{"rc", 0}}));
  EXPECT_TRUE(absl::IsPermissionDenied(st)) << st;
  EXPECT_EQ(dispatcher_->JobStatus(*jid)->first.state, "pending");
  EXPECT_TRUE(Events("job_finished").empty());
  EXPECT_TRUE(absl::IsPermissionDenied(
      dispatcher_->HandleJobEvent("web02", Finished(2, "j9.9", "failed", {}))));
}

TEST_F(DispatcherTest, RefusedDispatchFailsTheJob) {
  Connect("web01");
  auto jid = dispatcher_->StartJob("web01", {});
  ASSERT_TRUE(dispatcher_->HandleDispatchAck("web01", *jid, false, "unknown module 'nope'").ok());
  auto status = dispatcher_->JobStatus(*jid);
  EXPECT_EQ(status->first.state, "failed");
  EXPECT_EQ(status->second["msg"], "unknown module 'nope'");
}

TEST_F(DispatcherTest, ReconnectRedeliversPendingAndLosesForgottenJobs) {
  auto first = Connect("web01");
  auto pending = dispatcher_->StartJob("web01", {});
  auto running = dispatcher_->StartJob("web01", {});
  AgentJobEvent started;
  started.seq = 1;
  started.jid = *running;
  ASSERT_TRUE(dispatcher_->HandleJobEvent("web01", started).ok());
  dispatcher_->AgentDisconnected("web01", first.get());
  EXPECT_FALSE(dispatcher_->IsConnected("web01"));

  auto second = Connect("web01");  // knows neither job: it restarted with an empty spool
  ASSERT_EQ(second->dispatches().size(), 1u);
  EXPECT_EQ(second->dispatches()[0].jid, *pending);
  EXPECT_EQ(dispatcher_->JobStatus(*running)->first.state, "lost");
}

TEST_F(DispatcherTest, NewConnectionReplacesOld) {
  auto first = Connect("web01");
  auto second = Connect("web01");
  EXPECT_TRUE(first->closed());
  dispatcher_->AgentDisconnected("web01", first.get());  // the old stream's late goodbye
  EXPECT_TRUE(dispatcher_->IsConnected("web01"));
}

TEST_F(DispatcherTest, KillAndCleanup) {
  auto link = Connect("web01");
  auto jid = dispatcher_->StartJob("web01", {});
  EXPECT_TRUE(absl::IsFailedPrecondition(dispatcher_->CleanupJob(*jid).status()));
  ASSERT_TRUE(dispatcher_->KillJob(*jid).ok());
  EXPECT_THAT(link->kills(), ::testing::ElementsAre(*jid));
  ASSERT_TRUE(
      dispatcher_->HandleJobEvent("web01", Finished(1, *jid, "killed", {{"killed", true}})).ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(dispatcher_->KillJob(*jid).status()));
  ASSERT_TRUE(dispatcher_->CleanupJob(*jid).ok());
  EXPECT_THAT(link->cleanups(), ::testing::ElementsAre(*jid));
  EXPECT_TRUE(absl::IsNotFound(dispatcher_->JobStatus(*jid).status()));
}

TEST_F(DispatcherTest, KillNeedsAConnectedAgent) {
  auto link = Connect("web01");
  auto jid = dispatcher_->StartJob("web01", {});
  dispatcher_->AgentDisconnected("web01", link.get());
  EXPECT_TRUE(absl::IsUnavailable(dispatcher_->KillJob(*jid).status()));
}

TEST_F(DispatcherTest, UniverseHasGroupsAllAndUngrouped) {
  Connect("web01", {"web", "prod"});
  Connect("lb");
  auto u = dispatcher_->Universe();
  ASSERT_TRUE(u.ok());
  EXPECT_THAT(u->groups["web"], ::testing::ElementsAre("web01"));
  EXPECT_THAT(u->groups["ungrouped"], ::testing::ElementsAre("lb"));
  EXPECT_EQ(u->groups["all"].size(), 2u);
}

TEST_F(DispatcherTest, AcceptedDispatchIsRunningAndStartedOnce) {
  Connect("web01");
  auto jid = dispatcher_->StartJob("web01", {});
  ASSERT_TRUE(dispatcher_->HandleDispatchAck("web01", *jid, true, "").ok());
  EXPECT_EQ(dispatcher_->JobStatus(*jid)->first.state, "running");
  AgentJobEvent started;
  started.seq = 1;
  started.jid = *jid;
  ASSERT_TRUE(dispatcher_->HandleJobEvent("web01", started).ok());
  EXPECT_EQ(Events("job_started").size(), 1u);
}

TEST_F(DispatcherTest, LiveOutputIsPublishedUnnumbered) {
  Connect("web01");
  auto jid = dispatcher_->StartJob("web01", {});
  AgentJobEvent out;
  out.jid = *jid;
  out.kind = AgentJobEvent::Kind::kOutput;
  out.output_stream = "stdout";
  out.output_data = "hello\n";
  ASSERT_TRUE(dispatcher_->HandleJobEvent("web01", out).ok());
  ASSERT_TRUE(dispatcher_->HandleJobEvent("web01", out).ok());  // seq 0: no duplicate check
  auto events = Events("job_output");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(json::parse(events[0].data_json)["data"], "hello\n");
  EXPECT_TRUE(absl::IsPermissionDenied(dispatcher_->HandleJobEvent("web02", out)));
}

TEST_F(DispatcherTest, NeverDeliveredJobsEndUnreachableAfterTheDeliveryTimeout) {
  Dispatcher dispatcher(store_.get(), bus_.get(), {absl::Milliseconds(50)});
  std::mutex mu;
  std::condition_variable cv;
  std::vector<store::EventRecord> finished;
  uint64_t sub;
  bus_->Subscribe(
      [&](const store::EventRecord& e) {
        if (e.type != "job_finished") return;
        std::lock_guard<std::mutex> lock(mu);
        finished.push_back(e);
        cv.notify_all();
      },
      &sub);
  dispatcher.StartTimers();
  auto delivered = dispatcher.StartJob("web01", {});  // web01 connects and accepts it
  auto lost = dispatcher.StartJob("web02", {});       // web02 never shows up
  ASSERT_TRUE(dispatcher.HandleDispatchAck("web01", *delivered, true, "").ok());
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return !finished.empty(); }));
  }
  dispatcher.StopTimers();
  bus_->Unsubscribe(sub);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0].jid, *lost);
  auto status = dispatcher.JobStatus(*lost);
  EXPECT_EQ(status->first.state, "unreachable");
  EXPECT_EQ(status->second["unreachable"], true);
  EXPECT_EQ(dispatcher.JobStatus(*delivered)->first.state, "running");
}

TEST_F(DispatcherTest, ExpiredDispatchIsNeverDeliveredAndALateAcceptIsKilled) {
  auto link = Connect("web01");
  auto jid = dispatcher_->StartJob("web01", {});
  ASSERT_TRUE(jid.ok());
  bus_->Flush();
  EXPECT_NE(link->dispatches().at(0).deliver_by, absl::InfiniteFuture());
  ASSERT_TRUE(
      dispatcher_->HandleDispatchAck("web01", *jid, false, "too late", /*expired=*/true).ok());
  auto status = dispatcher_->JobStatus(*jid);
  EXPECT_EQ(status->first.state, "unreachable");
  EXPECT_EQ(status->second["unreachable"], true);
  // An agent whose clock lags accepts it anyway: the controller stops it there.
  ASSERT_TRUE(dispatcher_->HandleDispatchAck("web01", *jid, true, "").ok());
  EXPECT_THAT(link->kills(), ::testing::ElementsAre(*jid));
  EXPECT_EQ(dispatcher_->JobStatus(*jid)->first.state, "unreachable");
}

TEST_F(DispatcherTest, DeliveryDeadlinesSurviveARestart) {
  auto jid = dispatcher_->StartJob("web09", {});
  // A new controller process: same store, tiny delivery timeout, pending job from before.
  Dispatcher restarted(store_.get(), bus_.get(), {absl::Milliseconds(1)});
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  uint64_t sub;
  bus_->Subscribe(
      [&](const store::EventRecord& e) {
        if (e.type != "job_finished" || e.jid != *jid) return;
        std::lock_guard<std::mutex> lock(mu);
        done = true;
        cv.notify_all();
      },
      &sub);
  ASSERT_TRUE(restarted.Recover().ok());
  restarted.StartTimers();
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return done; }));
  }
  restarted.StopTimers();
  bus_->Unsubscribe(sub);
  EXPECT_EQ(restarted.JobStatus(*jid)->first.state, "unreachable");
}

TEST_F(DispatcherTest, SubscribersMayUnsubscribeFromTheirCallback) {
  int calls = 0;
  uint64_t id = 0;
  bus_->Subscribe(
      [&](const store::EventRecord&) {
        ++calls;
        bus_->Unsubscribe(id);  // e.g. an events stream that ends as it is written to
      },
      &id);
  store::EventRecord e;
  e.type = "test";
  ASSERT_TRUE(bus_->Publish(e).ok());
  ASSERT_TRUE(bus_->Publish(e).ok());
  bus_->Flush();  // subscribers get events once they are on disk
  EXPECT_EQ(calls, 1);
}

// Group commit: commits from many threads reach subscribers gap-free and in seq order, and a
// WhenDurable callback runs only after every event committed before it was delivered.
TEST_F(DispatcherTest, BusDeliversConcurrentCommitsInOrderBeforeLaterCallbacks) {
  std::mutex mu;
  std::vector<uint64_t> seqs;
  std::vector<size_t> delivered_at_callback;
  uint64_t sub;
  uint64_t base = bus_->Subscribe(
      [&](const store::EventRecord& e) {
        std::lock_guard<std::mutex> lock(mu);
        seqs.push_back(e.seq);
      },
      &sub);
  constexpr int kThreads = 8, kEach = 50;
  std::vector<std::thread> threads;
  std::atomic<int> callbacks_run{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        store::EventRecord e;
        e.type = "test";
        auto stored = bus_->Publish(e);
        ASSERT_TRUE(stored.ok());
        uint64_t mine = stored->seq;
        bus_->WhenDurable([&, mine] {
          std::lock_guard<std::mutex> lock(mu);
          // Delivered already: this callback's own event, and every event before it.
          EXPECT_GE(seqs.size(), mine - base);
          ++callbacks_run;
        });
      }
    });
  }
  for (auto& th : threads) th.join();
  bus_->Flush();
  bus_->Unsubscribe(sub);
  EXPECT_EQ(callbacks_run.load(), kThreads * kEach);
  ASSERT_EQ(seqs.size(), static_cast<size_t>(kThreads * kEach));
  for (size_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], base + 1 + i);
}

// Exec sessions: the fake agents complete each job from inside SendDispatch, as a fast agent
// would, which also checks that no lock is held across dispatch.
class ExecSessionTest : public DispatcherTest {
 protected:
  struct Collected {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<ExecUpdate> updates;
    bool done = false;
  };

  void Run(ExecParams params, Collected* out) {
    auto session = ExecSession::Create(dispatcher_.get(), bus_.get(), std::move(params));
    ASSERT_TRUE(session.ok()) << session.status();
    (*session)->Start(
        [out](const ExecUpdate& u) {
          std::lock_guard<std::mutex> lock(out->mu);
          out->updates.push_back(u);
        },
        [out](const absl::Status&) {
          std::lock_guard<std::mutex> lock(out->mu);
          out->done = true;
          out->cv.notify_all();
        });
    std::unique_lock<std::mutex> lock(out->mu);
    ASSERT_TRUE(out->cv.wait_for(lock, std::chrono::seconds(30), [out] { return out->done; }));
  }

  std::shared_ptr<FakeAgentLink> AutoAgent(const std::string& name, std::vector<std::string> groups,
                                           std::atomic<int>* in_flight,
                                           std::atomic<int>* max_in_flight, bool complete = true) {
    auto link = Connect(name, std::move(groups));
    auto seq = std::make_shared<std::atomic<uint64_t>>(0);
    link->on_dispatch = [this, name, seq, in_flight, max_in_flight,
                         complete](const DispatchRequest& r) {
      int now = ++*in_flight;
      int prev = max_in_flight->load();
      while (now > prev && !max_in_flight->compare_exchange_weak(prev, now)) {
      }
      if (!complete) return;
      // Complete on another thread, like a real agent's event arriving later.
      std::thread([this, name, seq, in_flight, r] {
        --*in_flight;
        auto st = dispatcher_->HandleJobEvent(
            name, Finished(++*seq, r.jid, "succeeded", {{"rc", 0}, {"changed", true}}));
        EXPECT_TRUE(st.ok()) << st;
      }).detach();
    };
    return link;
  }
};

TEST_F(ExecSessionTest, ReportsEveryHostAndUnreachable) {
  std::atomic<int> in_flight{0}, max_in_flight{0};
  auto a = AutoAgent("web01", {"web"}, &in_flight, &max_in_flight);
  auto b = AutoAgent("web02", {"web"}, &in_flight, &max_in_flight);
  auto gone = Connect("web03", {"web"});
  dispatcher_->AgentDisconnected("web03", gone.get());
  Collected out;
  ExecParams p;
  p.pattern = "web";
  Run(p, &out);
  ASSERT_EQ(out.updates.size(), 3u);
  int changed = 0, unreachable = 0;
  for (const auto& u : out.updates) {
    if (u.status == "changed") ++changed;
    if (u.status == "unreachable") {
      ++unreachable;
      EXPECT_EQ(u.host, "web03");
    }
  }
  EXPECT_EQ(changed, 2);
  EXPECT_EQ(unreachable, 1);
}

TEST_F(ExecSessionTest, ForksBoundHostsWaitingAtOnce) {
  std::atomic<int> in_flight{0}, max_in_flight{0};
  std::vector<std::shared_ptr<FakeAgentLink>> links;
  for (int i = 0; i < 8; ++i) {
    links.push_back(AutoAgent("h" + std::to_string(i), {}, &in_flight, &max_in_flight));
  }
  Collected out;
  ExecParams p;
  p.pattern = "all";
  p.forks = 2;
  Run(p, &out);
  EXPECT_EQ(out.updates.size(), 8u);
  EXPECT_LE(max_in_flight.load(), 2);
}

TEST_F(ExecSessionTest, PollZeroReturnsJobIdsAtOnce) {
  std::atomic<int> in_flight{0}, max_in_flight{0};
  for (int i = 0; i < 4; ++i) {
    AutoAgent("h" + std::to_string(i), {}, &in_flight, &max_in_flight, /*complete=*/false);
  }
  Collected out;
  ExecParams p;
  p.pattern = "all";
  p.poll_seconds = 0;
  p.forks = 1;  // poll 0 jobs hold no fork
  Run(p, &out);
  ASSERT_EQ(out.updates.size(), 4u);
  for (const auto& u : out.updates) {
    EXPECT_EQ(u.status, "started");
    EXPECT_EQ(u.result["ansible_job_id"], u.jid);
    EXPECT_EQ(u.result["finished"], 0);
  }
  bus_->Flush();  // dispatches go out from the bus's sync thread once the jobs are on disk
  EXPECT_EQ(max_in_flight.load(), 4);
}

TEST_F(ExecSessionTest, UnknownPatternIsAClearError) {
  Connect("web01");
  ExecParams p;
  p.pattern = "nosuch";
  auto s = ExecSession::Create(dispatcher_.get(), bus_.get(), p);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), ::testing::HasSubstr("nosuch"));
}

}  // namespace
}  // namespace tachyon::controller
