// Async jobs: -P 0 and status, timeout, kill, cleanup, agent restart and reconnect.

#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <regex>

#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace tachyon::itest {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

class JobsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.StartController());
    ASSERT_TRUE(cluster_.StartAgents(3));
    ready_ = std::make_unique<Fifo>(cluster_.dir() + "/ready", Fifo::kFromJob);
    go_ = std::make_unique<Fifo>(cluster_.dir() + "/go", Fifo::kToJob);
  }

  // A shell command that reports its pid on the ready fifo, then waits for a line on the go
  // fifo and echoes it.
  std::string WaitingScript() const {
    return "echo $$ > " + ready_->path() + "; read x < " + go_->path() + "; echo got $x";
  }

  json Status(const std::string& jid, int expect_rc) {
    CliResult r = cluster_.Cli({"job", "status", jid, "-o", "json"});
    EXPECT_EQ(r.rc, expect_rc) << r;
    auto lines = r.JsonLines();
    EXPECT_EQ(lines.size(), 1u) << r;
    return lines.empty() ? json::object() : lines[0];
  }

  static std::function<bool(const json&)> IsEvent(const std::string& type,
                                                  const std::string& jid = "",
                                                  const std::string& host = "") {
    return [=](const json& e) {
      return e.value("type", "") == type && (jid.empty() || e.value("jid", "") == jid) &&
             (host.empty() || e.value("host", "") == host);
    };
  }

  int CountFinished(const std::string& jid) {
    int n = 0;
    for (const auto& e : cluster_.AllEvents()) {
      if (e.value("type", "") == "job_finished" && e.value("jid", "") == jid) ++n;
    }
    return n;
  }

  Cluster cluster_;
  std::unique_ptr<Fifo> ready_;
  std::unique_ptr<Fifo> go_;
};

TEST_F(JobsTest, PollZeroThenStatus) {
  auto events = cluster_.FollowEvents(cluster_.LastSeq());
  std::string jid = cluster_.StartAsync("web01", {"/bin/sh", "-c", WaitingScript()}, 30);
  ASSERT_FALSE(jid.empty());
  ASSERT_TRUE(ready_->ReadLine()) << "the job never started";

  // Running: async_status says started, not finished, and is not a failure.
  json running = Status(jid, 0);
  EXPECT_EQ(running.value("ansible_job_id", ""), jid) << running;
  EXPECT_EQ(running.value("started", -1), 1) << running;
  EXPECT_EQ(running.value("finished", -1), 0) << running;
  EXPECT_EQ(running.value("state", ""), "running") << running;

  go_->Send("go");
  size_t cursor = 0;
  auto finished = WaitEvent(events.get(), IsEvent("job_finished", jid), &cursor);
  ASSERT_TRUE(finished) << events->StdoutText();
  EXPECT_EQ(finished->value("host", ""), "web01") << *finished;
  EXPECT_EQ(finished->value("state", ""), "succeeded") << *finished;

  json done = Status(jid, 0);
  EXPECT_EQ(done.value("finished", -1), 1) << done;
  EXPECT_EQ(done.value("rc", -1), 0) << done;
  EXPECT_EQ(done.value("stdout", ""), "got go") << done;
  EXPECT_EQ(done.value("failed", true), false) << done;
  EXPECT_EQ(done.value("state", ""), "succeeded") << done;
  EXPECT_EQ(CountFinished(jid), 1);
}

TEST_F(JobsTest, UnknownJobStatus) {
  json j = Status("j999999.1", 2);
  EXPECT_EQ(j.value("failed", false), true) << j;
  EXPECT_EQ(j.value("msg", ""), "could not find job") << j;

  CliResult r = cluster_.Cli({"job", "cleanup", "j999999.1", "-o", "json"});
  EXPECT_EQ(r.rc, 2) << r;
  r = cluster_.Cli({"job", "kill", "j999999.1"});
  EXPECT_EQ(r.rc, 2) << r;
}

TEST_F(JobsTest, TimeoutKillsTheJob) {
  auto start = std::chrono::steady_clock::now();
  CliResult r = cluster_.Cli({"exec", "web02", "-B", "1", "-o", "json", "--", "/bin/sh", "-c",
                              "echo $$ > " + ready_->path() + "; exec sleep 60"});
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.rc, 2) << r;
  auto lines = r.JsonLines();
  ASSERT_EQ(lines.size(), 1u) << r;
  const json& j = lines[0];
  EXPECT_EQ(j.value("status", ""), "timed_out") << j;
  EXPECT_EQ(j.value("failed", false), true) << j;
  EXPECT_EQ(j.value("msg", ""), "Timeout exceeded") << j;
  EXPECT_EQ(j.value("timed_out", false), true) << j;
  EXPECT_EQ(j.value("finished", -1), 1) << j;
  EXPECT_LT(secs, 15) << "a 1 s timeout with a 1 s kill grace took " << secs << " s";

  auto pid = ready_->ReadLine(1);  // written before the job timed out
  ASSERT_TRUE(pid);
  EXPECT_FALSE(ProcessAlive(std::stoi(*pid))) << "the timed-out job is still running";

  json status = Status(j.value("ansible_job_id", ""), 2);
  EXPECT_EQ(status.value("state", ""), "timed_out") << status;
  EXPECT_EQ(status.value("msg", ""), "Timeout exceeded") << status;
}

TEST_F(JobsTest, TimeoutWithPollZero) {
  auto events = cluster_.FollowEvents(cluster_.LastSeq());
  std::string jid = cluster_.StartAsync("web03", {"/bin/sleep", "60"}, /*async_seconds=*/1);
  ASSERT_FALSE(jid.empty());
  size_t cursor = 0;
  auto finished = WaitEvent(events.get(), IsEvent("job_finished", jid), &cursor);
  ASSERT_TRUE(finished) << events->StdoutText();
  EXPECT_EQ(finished->value("state", ""), "timed_out") << *finished;
  EXPECT_EQ(finished->value("status", ""), "timed_out") << *finished;
  json status = Status(jid, 2);
  EXPECT_EQ(status.value("msg", ""), "Timeout exceeded") << status;
  EXPECT_EQ(status.value("finished", -1), 1) << status;
}

TEST_F(JobsTest, KillARunningJob) {
  std::string jid = cluster_.StartAsync(
      "web01", {"/bin/sh", "-c", "echo $$ > " + ready_->path() + "; exec sleep 60"}, 60);
  ASSERT_FALSE(jid.empty());
  auto pid = ready_->ReadLine();
  ASSERT_TRUE(pid) << "the job never started";
  ASSERT_TRUE(ProcessAlive(std::stoi(*pid)));

  // Cleanup of a running job is refused.
  CliResult r = cluster_.Cli({"job", "cleanup", jid});
  EXPECT_EQ(r.rc, 2) << r;
  EXPECT_TRUE(ProcessAlive(std::stoi(*pid)));

  auto start = std::chrono::steady_clock::now();
  r = cluster_.Cli({"job", "kill", jid, "-o", "json"});
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(r.rc, 0) << r;
  auto lines = r.JsonLines();
  ASSERT_EQ(lines.size(), 1u) << r;
  EXPECT_EQ(lines[0].value("state", ""), "killed") << r;
  EXPECT_LT(secs, 10) << "kill took " << secs << " s";
  EXPECT_FALSE(ProcessAlive(std::stoi(*pid))) << "the killed job is still running";

  json status = Status(jid, 2);
  EXPECT_EQ(status.value("state", ""), "killed") << status;
  EXPECT_EQ(status.value("finished", -1), 1) << status;
  EXPECT_EQ(CountFinished(jid), 1);

  // Killing it again is harmless (it already ended).
  r = cluster_.Cli({"job", "kill", jid});
  EXPECT_NE(r.rc, 1) << r;
  EXPECT_EQ(CountFinished(jid), 1);
}

TEST_F(JobsTest, CleanupRemovesTheJobData) {
  CliResult r = cluster_.Cli({"exec", "web02", "-o", "json", "--", "/bin/echo", "x"});
  ASSERT_EQ(r.rc, 0) << r;
  auto lines = r.JsonLines();
  ASSERT_EQ(lines.size(), 1u);
  std::string jid = lines[0].value("ansible_job_id", "");
  std::string job_dir = cluster_.AgentStateDir("web02") + "/jobs/" + jid;
  ASSERT_TRUE(Exists(job_dir)) << job_dir;

  r = cluster_.Cli({"job", "cleanup", jid, "-o", "json"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_FALSE(Exists(job_dir)) << job_dir << " is still there";
}

TEST_F(JobsTest, AgentRestartAndReconnect) {
  auto events = cluster_.FollowEvents(cluster_.LastSeq());
  size_t cursor = 0;
  EXPECT_EQ(cluster_.StopAgent("web01"), 0);
  ASSERT_TRUE(WaitEvent(events.get(), IsEvent("agent_disconnected", "", "web01"), &cursor))
      << events->StdoutText();

  CliResult r = cluster_.Cli({"agents", "-o", "json"});
  ASSERT_EQ(r.rc, 0) << r;
  for (const auto& a : r.JsonLines()) {
    EXPECT_EQ(a.value("state", ""), a.value("name", "") == "web01" ? "disconnected" : "connected")
        << a;
  }

  // A disconnected host is unreachable; the others still run.
  r = cluster_.Cli({"exec", "all", "-o", "json", "--", "/bin/true"});
  EXPECT_EQ(r.rc, 3) << r;
  for (const auto& j : r.JsonLines()) {
    EXPECT_EQ(j.value("status", ""), j.value("host", "") == "web01" ? "unreachable" : "changed")
        << j;
  }

  ASSERT_TRUE(cluster_.StartAgent("web01", {"web"}));
  ASSERT_TRUE(WaitEvent(events.get(), IsEvent("agent_connected", "", "web01"), &cursor))
      << events->StdoutText();
  r = cluster_.Cli({"exec", "web01", "-o", "json", "--", "/bin/echo", "back"});
  ASSERT_EQ(r.rc, 0) << r;
  auto lines = r.JsonLines();
  ASSERT_EQ(lines.size(), 1u) << r;
  EXPECT_EQ(lines[0].value("stdout", ""), "back") << r;
  r = cluster_.Cli({"agents", "-o", "json"});
  for (const auto& a : r.JsonLines()) EXPECT_EQ(a.value("state", ""), "connected") << a;
}

// A -P 0 job outlives its agent: the shim keeps running, the restarted agent re-adopts it, and
// the job ends with exactly one job_finished — whether it ends while the agent is down or after.
TEST_F(JobsTest, PollZeroJobSurvivesAgentRestart) {
  auto events = cluster_.FollowEvents(cluster_.LastSeq());
  size_t cursor = 0;
  Fifo ready_b(cluster_.dir() + "/ready-b", Fifo::kFromJob);
  Fifo go_b(cluster_.dir() + "/go-b", Fifo::kToJob);

  // Job A ends while the agent is down; job B after it is back.
  std::string jid_a = cluster_.StartAsync("web01", {"/bin/sh", "-c", WaitingScript()}, 30);
  std::string jid_b = cluster_.StartAsync(
      "web01",
      {"/bin/sh", "-c",
       "echo $$ > " + ready_b.path() + "; read x < " + go_b.path() + "; echo got $x"},
      30);
  ASSERT_FALSE(jid_a.empty());
  ASSERT_FALSE(jid_b.empty());
  auto pid_a = ready_->ReadLine();
  auto pid_b = ready_b.ReadLine();
  ASSERT_TRUE(pid_a && pid_b) << "the jobs never started";
  ASSERT_TRUE(WaitEvent(events.get(), IsEvent("job_started", jid_a), &cursor));
  cursor = 0;
  ASSERT_TRUE(WaitEvent(events.get(), IsEvent("job_started", jid_b), &cursor));
  cursor = 0;

  EXPECT_EQ(cluster_.StopAgent("web01"), 0);
  ASSERT_TRUE(WaitEvent(events.get(), IsEvent("agent_disconnected", "", "web01"), &cursor));
  EXPECT_TRUE(ProcessAlive(std::stoi(*pid_a))) << "stopping the agent killed job A";
  EXPECT_TRUE(ProcessAlive(std::stoi(*pid_b))) << "stopping the agent killed job B";

  // Job A finishes with nobody watching but its shim.
  go_->Send("a");
  {
    // The job's exit is observable without polling through a pidfd.
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, std::stoi(*pid_a), 0));
    if (pidfd >= 0) {
      struct pollfd p = {pidfd, POLLIN, 0};
      EXPECT_EQ(::poll(&p, 1, kWaitSeconds * 1000), 1) << "job A did not end";
      ::close(pidfd);
    }
  }

  ASSERT_TRUE(cluster_.StartAgent("web01", {"web"}));
  auto fin_a = WaitEvent(events.get(), IsEvent("job_finished", jid_a), &cursor);
  ASSERT_TRUE(fin_a) << "job A's result never arrived after the agent restarted\n"
                     << events->StdoutText();
  EXPECT_EQ(fin_a->value("state", ""), "succeeded") << *fin_a;
  EXPECT_EQ((*fin_a)["result"].value("stdout", ""), "got a") << *fin_a;

  json status_b = Status(jid_b, 0);
  EXPECT_EQ(status_b.value("finished", -1), 0) << status_b;
  go_b.Send("b");
  cursor = 0;
  auto fin_b = WaitEvent(events.get(), IsEvent("job_finished", jid_b), &cursor);
  ASSERT_TRUE(fin_b) << "job B (re-adopted) never finished\n" << events->StdoutText();
  EXPECT_EQ(fin_b->value("state", ""), "succeeded") << *fin_b;
  EXPECT_EQ((*fin_b)["result"].value("stdout", ""), "got b") << *fin_b;

  // One more round trip through web01: anything it still had queued is in the log now.
  CliResult r = cluster_.Cli({"exec", "web01", "--", "/bin/true"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_EQ(CountFinished(jid_a), 1);
  EXPECT_EQ(CountFinished(jid_b), 1);
  EXPECT_EQ(Status(jid_a, 0).value("stdout", ""), "got a");
  EXPECT_EQ(Status(jid_b, 0).value("stdout", ""), "got b");
}

// The harness itself: a job left running when a test ends is killed by the teardown.
TEST(HarnessTest, TeardownKillsLeftoverJobs) {
  std::string pid;
  {
    Cluster cluster;
    ASSERT_TRUE(cluster.StartController());
    ASSERT_TRUE(cluster.StartAgent("web01"));
    Fifo ready(cluster.dir() + "/ready", Fifo::kFromJob);
    CliResult r = cluster.Cli({"exec", "web01", "-B", "60", "-P", "0", "--", "/bin/sh", "-c",
                               "echo $$ > " + ready.path() + "; exec sleep 60"});
    ASSERT_EQ(r.rc, 0) << r;
    auto line = ready.ReadLine();
    ASSERT_TRUE(line);
    pid = *line;
    ASSERT_TRUE(ProcessAlive(std::stoi(pid)));
  }
  EXPECT_FALSE(ProcessAlive(std::stoi(pid))) << "the teardown left job " << pid << " running";
}

}  // namespace
}  // namespace tachyon::itest
