// Durability (issue 3): once the controller accepts a job it produces exactly one final result,
// whatever crashes, restarts or disconnects happen in between. Every test here checks the whole
// event log afterwards: seq gap-free, exactly one job_finished per job, job_started before it.
//
// Jobs are gated by fifos the test controls, so the test decides when each one ends; every
// wait is on an observable event (a log line, an event, a fifo line, a process exit) with a
// bound. Nothing sleeps.

#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/integration/tcp_proxy.h"

namespace tachyon::itest {
namespace {

using Clock = std::chrono::steady_clock;

// Peak RSS allowed to the agent and the controller during the output flood. ASan builds
// (TACHYON_SANITIZE) carry shadow memory and a quarantine of freed blocks (256 MiB by default,
// filled by the flood's freed chunks) on top; the real bound is checked by the plain build.
#if defined(__SANITIZE_ADDRESS__)
constexpr long kFloodRssLimitKb = 400 * 1024;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr long kFloodRssLimitKb = 400 * 1024;
#else
constexpr long kFloodRssLimitKb = 100 * 1024;
#endif
#else
constexpr long kFloodRssLimitKb = 100 * 1024;
#endif

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// True when `pid` has ended (a zombie has ended too), waiting at most `seconds`. A pidfd turns
// readable when its process exits: no polling loop.
bool WaitGone(pid_t pid, double seconds = kWaitSeconds) {
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return errno == ESRCH;
  struct pollfd p = {pidfd, POLLIN, 0};
  int r;
  do {
    r = ::poll(&p, 1, static_cast<int>(seconds * 1000));
  } while (r < 0 && errno == EINTR);
  ::close(pidfd);
  return r == 1;
}

// "" when the process is gone entirely, else its state letter (R, S, Z, ...).
std::string ProcState(pid_t pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return "";
  return std::string(1, stat[close + 2]);
}

// A field of /proc/PID/status in kB (VmHWM, VmRSS), or -1.
long StatusKb(pid_t pid, const std::string& field) {
  std::istringstream in(ReadFile("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0)
      return std::strtol(line.c_str() + field.size() + 1, nullptr, 10);
  }
  return -1;
}

int CountLines(const std::string& path) {
  std::string s = ReadFile(path);
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

std::function<bool(const json&)> IsEvent(const std::string& type, const std::string& jid = "",
                                         const std::string& host = "") {
  return [=](const json& e) {
    return e.value("type", "") == type && (jid.empty() || e.value("jid", "") == jid) &&
           (host.empty() || e.value("host", "") == host);
  };
}

// The event log's invariants: seqs are 1..N in order with no gap; no job has more than one
// job_started or job_finished; each of `jids` has exactly one job_finished, after its
// job_started when it has one (every one of `ran` must have one).
void ExpectSoundLog(const std::vector<json>& events, const std::vector<std::string>& jids,
                    const std::vector<std::string>& ran) {
  ASSERT_FALSE(events.empty());
  for (size_t i = 0; i < events.size(); ++i) {
    ASSERT_EQ(events[i].value("seq", uint64_t{0}), i + 1)
        << "event log seq is not gap-free at index " << i << ": " << events[i];
  }
  std::map<std::string, std::vector<size_t>> started, finished;
  for (size_t i = 0; i < events.size(); ++i) {
    std::string type = events[i].value("type", "");
    std::string jid = events[i].value("jid", "");
    if (type == "job_started") started[jid].push_back(i);
    if (type == "job_finished") finished[jid].push_back(i);
  }
  for (const auto& [jid, at] : started) EXPECT_EQ(at.size(), 1u) << "job_started of " << jid;
  for (const auto& [jid, at] : finished) EXPECT_EQ(at.size(), 1u) << "job_finished of " << jid;
  for (const auto& jid : jids) {
    EXPECT_EQ(finished[jid].size(), 1u) << "job_finished events of " << jid;
    if (!started[jid].empty() && !finished[jid].empty()) {
      EXPECT_LT(started[jid][0], finished[jid][0]) << jid << ": job_finished before job_started";
    }
  }
  for (const auto& jid : ran) EXPECT_EQ(started[jid].size(), 1u) << "job_started of " << jid;
}

class DurabilityTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) const { return cluster_.dir() + "/" + name; }

  // A job for `sh -c` that reports its pid on `ready`, appends a line to `runs` (so the test
  // can count how often it ran), waits for a line on `go` and prints `done LINE`.
  static std::vector<std::string> GatedJob(const Fifo& ready, const Fifo& go,
                                           const std::string& runs) {
    return {"/bin/sh", "-c",
            "echo $$ > " + ready.path() + "; echo run >> " + runs + "; read x < " + go.path() +
                "; echo done $x"};
  }

  json Status(const std::string& jid) {
    CliResult r = cluster_.Cli({"job", "status", jid, "-o", "json"});
    EXPECT_TRUE(r.rc == 0 || r.rc == 2) << r;
    auto lines = r.JsonLines();
    EXPECT_EQ(lines.size(), 1u) << r;
    return lines.empty() ? json::object() : lines[0];
  }

  // One more job through `pattern`, to completion: every event its agents queued before it is
  // in the log once this returns (each agent's events are applied in its seq order).
  void RoundTrip(const std::string& pattern) {
    CliResult r = cluster_.Cli({"exec", pattern, "-o", "json", "--", "/bin/true"});
    EXPECT_EQ(r.rc, 0) << r;
  }

  // A controller on a given port with the cluster's state dir and PKI (a restart in place).
  std::unique_ptr<Process> StartControllerAt(int port, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {ControllerBin(),
                                     "--listen",
                                     "127.0.0.1:" + std::to_string(port),
                                     "--state-dir",
                                     cluster_.dir() + "/controller",
                                     "--ca",
                                     cluster_.ca(),
                                     "--cert",
                                     cluster_.pki_dir() + "/controller.crt",
                                     "--key",
                                     cluster_.pki_dir() + "/controller.key"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto p = Process::Start({argv, {}, cluster_.dir() + "/controller-restarted.log"});
    if (!p) return nullptr;
    if (!p->WaitStderr(Contains({"listening on 127.0.0.1:" + std::to_string(port)}))) {
      ADD_FAILURE() << "the controller did not come back on port " << port << ":\n"
                    << p->StderrText();
    }
    return p;
  }

  // An agent that dials `address` (e.g. a proxy) instead of the controller itself; waits
  // until `controller` logs it connected.
  std::unique_ptr<Process> StartAgentVia(const std::string& name, const std::string& address,
                                         Process* controller, std::vector<std::string> extra = {}) {
    cluster_.IssueAgent(name);
    size_t from = controller->StderrLineCount();
    std::vector<std::string> argv = {AgentBin(),
                                     "--controller",
                                     address,
                                     "--state-dir",
                                     cluster_.AgentStateDir(name),
                                     "--ca",
                                     cluster_.ca(),
                                     "--cert",
                                     cluster_.AgentCert(name),
                                     "--key",
                                     cluster_.AgentKey(name),
                                     "--kill-grace",
                                     "1"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto p = Process::Start({argv, {}, cluster_.dir() + "/agent-" + name + ".log"});
    if (!p) return nullptr;
    if (!controller->WaitStderr(Contains({"agent '" + name + "' connected"}), &from)) {
      ADD_FAILURE() << "agent " << name << " did not connect via " << address << ":\n"
                    << p->StderrText();
    }
    return p;
  }

  // SIGKILL, then reap.
  static void Kill9(Process* p) {
    ASSERT_NE(p, nullptr);
    p->Signal(SIGKILL);
    auto rc = p->WaitExit();
    ASSERT_TRUE(rc.has_value()) << p->name() << " survived SIGKILL";
    EXPECT_EQ(*rc, 128 + SIGKILL);
  }

  Cluster cluster_;
};

// 1. The agent is SIGKILLed while its job runs; the job ends while the agent is down. The
// restarted agent reports it: one result, and the job ran once.
TEST_F(DurabilityTest, AgentKilledMidJob) {
  ASSERT_TRUE(cluster_.StartController());
  ASSERT_TRUE(cluster_.StartAgent("web01"));
  auto events = cluster_.FollowEvents(0);
  size_t cursor = 0;
  Fifo ready(Path("ready"), Fifo::kFromJob);
  Fifo go(Path("go"), Fifo::kToJob);
  const std::string runs = Path("runs");

  std::string jid = cluster_.StartAsync("web01", GatedJob(ready, go, runs), 60);
  ASSERT_FALSE(jid.empty());
  auto pid = ready.ReadLine();
  ASSERT_TRUE(pid) << "the job never started";
  ASSERT_TRUE(WaitEvent(events.get(), IsEvent("job_started", jid), &cursor))
      << events->StdoutText();

  Kill9(cluster_.agent("web01"));
  ASSERT_TRUE(WaitEvent(events.get(), IsEvent("agent_disconnected", "", "web01"), &cursor));
  ASSERT_TRUE(ProcessAlive(std::stoi(*pid))) << "SIGKILL of the agent killed its job";

  // The job ends with only its shim watching.
  go.Send("once");
  ASSERT_TRUE(WaitGone(std::stoi(*pid))) << "the job did not end";
  json running = Status(jid);
  EXPECT_EQ(running.value("finished", -1), 0)
      << "a result arrived with its agent down: " << running;

  ASSERT_TRUE(cluster_.StartAgent("web01"));
  auto fin = WaitEvent(events.get(), IsEvent("job_finished", jid), &cursor);
  ASSERT_TRUE(fin) << "the result never arrived after the agent restarted\n"
                   << events->StdoutText();
  EXPECT_EQ(fin->value("state", ""), "succeeded") << *fin;
  EXPECT_EQ((*fin)["result"].value("stdout", ""), "done once") << *fin;

  RoundTrip("web01");
  EXPECT_EQ(CountLines(runs), 1) << "the job ran more than once:\n" << ReadFile(runs);
  json done = Status(jid);
  EXPECT_EQ(done.value("state", ""), "succeeded") << done;
  EXPECT_EQ(done.value("finished", -1), 1) << done;
  EXPECT_EQ(done.value("stdout", ""), "done once") << done;
  ExpectSoundLog(cluster_.AllEvents(), {jid}, {jid});
}

// 2. The agent is down when the job's timeout passes: the shim kills the job on time anyway and
// the restarted agent reports timed_out, once.
TEST_F(DurabilityTest, AgentDownPastTheTimeout) {
  ASSERT_TRUE(cluster_.StartController());
  ASSERT_TRUE(cluster_.StartAgent("web01"));
  auto events = cluster_.FollowEvents(0);
  size_t cursor = 0;
  Fifo ready(Path("ready"), Fifo::kFromJob);

  auto start = Clock::now();
  std::string jid = cluster_.StartAsync(
      "web01", {"/bin/sh", "-c", "echo $$ > " + ready.path() + "; exec sleep 60"}, 2);
  ASSERT_FALSE(jid.empty());
  auto pid = ready.ReadLine();
  ASSERT_TRUE(pid) << "the job never started";
  ASSERT_TRUE(WaitEvent(events.get(), IsEvent("job_started", jid), &cursor));
  Kill9(cluster_.agent("web01"));

  ASSERT_TRUE(WaitGone(std::stoi(*pid))) << "the job outlived its 2 s timeout with the agent down";
  double secs = SecondsSince(start);
  EXPECT_LT(secs, 15) << "a 2 s timeout (1 s grace) took " << secs << " s with the agent down";
  EXPECT_GE(secs, 2) << "killed before its timeout";
  EXPECT_EQ(Status(jid).value("finished", -1), 0);

  ASSERT_TRUE(cluster_.StartAgent("web01"));
  auto fin = WaitEvent(events.get(), IsEvent("job_finished", jid), &cursor);
  ASSERT_TRUE(fin) << events->StdoutText();
  EXPECT_EQ(fin->value("state", ""), "timed_out") << *fin;
  EXPECT_EQ((*fin)["result"].value("msg", ""), "Timeout exceeded") << *fin;
  EXPECT_EQ((*fin)["result"].value("timed_out", false), true) << *fin;

  RoundTrip("web01");
  json status = Status(jid);
  EXPECT_EQ(status.value("state", ""), "timed_out") << status;
  EXPECT_EQ(status.value("msg", ""), "Timeout exceeded") << status;
  ExpectSoundLog(cluster_.AllEvents(), {jid}, {jid});
}

// 3. The controller is SIGKILLed while jobs run on three agents. The jobs end while it is down
// (one more ends after it is back); the restarted controller, on the same state and port, takes
// the replays: every result once, status for jobs from before the restart.
TEST_F(DurabilityTest, ControllerKilledWhileJobsRun) {
  ASSERT_TRUE(cluster_.StartController());
  ASSERT_TRUE(cluster_.StartAgents(3));
  const std::vector<std::string> hosts = {"web01", "web02", "web03"};
  auto events = cluster_.FollowEvents(0);
  size_t cursor = 0;
  Fifo ready(Path("ready"), Fifo::kFromJob);

  struct Job {
    std::string host;
    std::unique_ptr<Fifo> go;
    std::string runs;
    std::string jid;
    pid_t pid = 0;
  };
  std::vector<Job> jobs;  // [0..2]: end while the controller is down; [3]: after it is back
  for (const auto& host : hosts) jobs.push_back({host, nullptr, "", "", 0});
  jobs.push_back({"web02", nullptr, "", "", 0});
  for (size_t i = 0; i < jobs.size(); ++i) {
    Job& j = jobs[i];
    j.go = std::make_unique<Fifo>(Path("go" + std::to_string(i)), Fifo::kToJob);
    j.runs = Path("runs" + std::to_string(i));
    j.jid = cluster_.StartAsync(j.host, GatedJob(ready, *j.go, j.runs), 60);
    ASSERT_FALSE(j.jid.empty());
    auto pid = ready.ReadLine();
    ASSERT_TRUE(pid) << "job " << j.jid << " never started";
    j.pid = std::stoi(*pid);
  }
  for (const auto& j : jobs) {
    size_t c = 0;
    ASSERT_TRUE(WaitEvent(events.get(), IsEvent("job_started", j.jid), &c)) << j.jid;
  }

  const int port = cluster_.port();
  Kill9(cluster_.controller());
  events.reset();

  for (size_t i = 0; i < 3; ++i) {
    jobs[i].go->Send("while-down");
    ASSERT_TRUE(WaitGone(jobs[i].pid)) << jobs[i].jid << " did not end";
    // The agent has the result (durable in its outbox) with nobody to send it to.
    size_t c = 0;
    ASSERT_TRUE(cluster_.agent(jobs[i].host)
                    ->WaitStderr(Contains({"job " + jobs[i].jid + " succeeded"}), &c))
        << cluster_.agent(jobs[i].host)->StderrText();
  }

  auto controller = StartControllerAt(port);
  ASSERT_TRUE(controller);
  for (const auto& host : hosts) {
    size_t c = 0;
    ASSERT_TRUE(controller->WaitStderr(Contains({"agent '" + host + "' connected"}), &c))
        << host << " did not reconnect to the restarted controller\n"
        << controller->StderrText();
  }
  events = cluster_.FollowEvents(0);
  cursor = 0;
  for (size_t i = 0; i < 3; ++i) {
    size_t c = 0;
    auto fin = WaitEvent(events.get(), IsEvent("job_finished", jobs[i].jid), &c);
    ASSERT_TRUE(fin) << jobs[i].jid << "'s result never arrived\n" << events->StdoutText();
    EXPECT_EQ(fin->value("state", ""), "succeeded") << *fin;
    EXPECT_EQ((*fin)["result"].value("stdout", ""), "done while-down") << *fin;
  }

  // A job from before the restart, still running: its status is known.
  json running = Status(jobs[3].jid);
  EXPECT_EQ(running.value("state", ""), "running") << running;
  EXPECT_EQ(running.value("finished", -1), 0) << running;
  jobs[3].go->Send("after");
  auto fin = WaitEvent(events.get(), IsEvent("job_finished", jobs[3].jid), &cursor);
  ASSERT_TRUE(fin) << events->StdoutText();
  EXPECT_EQ((*fin)["result"].value("stdout", ""), "done after") << *fin;

  RoundTrip("all");
  std::vector<std::string> jids;
  for (const auto& j : jobs) {
    jids.push_back(j.jid);
    EXPECT_EQ(CountLines(j.runs), 1) << j.jid << " ran more than once";
    json st = Status(j.jid);
    EXPECT_EQ(st.value("state", ""), "succeeded") << st;
    EXPECT_EQ(st.value("finished", -1), 1) << st;
  }
  ExpectSoundLog(cluster_.AllEvents(), jids, jids);
  events.reset();
  controller->Stop();
}

// 4. Agents reach the controller through a TCP proxy that stalls and cuts the connections while
// events are in flight. After it heals, every event arrives once and in each agent's order.
TEST_F(DurabilityTest, ConnectionCutMidStream) {
  ASSERT_TRUE(cluster_.StartController());
  TcpProxy proxy(cluster_.port());
  ASSERT_TRUE(proxy.ok());
  const std::string via = "127.0.0.1:" + std::to_string(proxy.port());
  const std::vector<std::string> hosts = {"web01", "web02"};
  std::map<std::string, std::unique_ptr<Process>> agents;
  for (const auto& h : hosts) {
    agents[h] = StartAgentVia(h, via, cluster_.controller());
    ASSERT_TRUE(agents[h]);
  }
  auto events = cluster_.FollowEvents(0);
  Fifo ready(Path("ready"), Fifo::kFromJob);

  constexpr int kPerHost = 3;
  struct Job {
    std::unique_ptr<Fifo> go;
    std::string runs, jid;
  };
  std::map<std::string, std::vector<Job>> jobs;
  for (const auto& h : hosts) {
    for (int i = 0; i < kPerHost; ++i) {
      Job j;
      j.go = std::make_unique<Fifo>(Path("go-" + h + std::to_string(i)), Fifo::kToJob);
      j.runs = Path("runs-" + h + std::to_string(i));
      j.jid = cluster_.StartAsync(h, GatedJob(ready, *j.go, j.runs), 60);
      ASSERT_FALSE(j.jid.empty());
      ASSERT_TRUE(ready.ReadLine()) << j.jid << " never started";
      jobs[h].push_back(std::move(j));
    }
  }
  for (const auto& h : hosts) {
    for (const auto& j : jobs[h]) {
      size_t c = 0;
      ASSERT_TRUE(WaitEvent(events.get(), IsEvent("job_started", j.jid), &c)) << j.jid;
    }
  }
  const uint64_t accepted_before = proxy.accepted();

  // Round 1: the network hangs; jobs 0 and 1 end on each host (their events leave the agent
  // into the stalled proxy); then the connections are cut and the network heals.
  proxy.Stall(true);
  for (int i = 0; i < 2; ++i) {
    for (const auto& h : hosts) {
      jobs[h][i].go->Send("r1");
      size_t c = 0;
      ASSERT_TRUE(agents[h]->WaitStderr(Contains({"job " + jobs[h][i].jid + " succeeded"}), &c))
          << agents[h]->StderrText();
    }
  }
  for (const auto& h : hosts) {
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(Status(jobs[h][i].jid).value("finished", -1), 0)
          << "a result went through a stalled proxy";
    }
  }
  size_t ctl_cursor = cluster_.controller()->StderrLineCount();
  proxy.Drop();
  for (const auto& h : hosts) {
    size_t c = ctl_cursor;
    ASSERT_TRUE(
        cluster_.controller()->WaitStderr(Contains({"agent '" + h + "' disconnected"}), &c));
  }
  ctl_cursor = cluster_.controller()->StderrLineCount();
  proxy.Stall(false);
  for (const auto& h : hosts) {
    size_t c = ctl_cursor;
    ASSERT_TRUE(cluster_.controller()->WaitStderr(Contains({"agent '" + h + "' connected"}), &c))
        << h << " did not reconnect through the proxy";
    for (int i = 0; i < 2; ++i) {
      size_t e = 0;
      ASSERT_TRUE(WaitEvent(events.get(), IsEvent("job_finished", jobs[h][i].jid), &e))
          << jobs[h][i].jid << "'s result was lost in the cut\n"
          << events->StdoutText();
    }
  }

  // Round 2: the controller's acks are held; job 2 ends and is stored; the cut loses the acks,
  // so the agents still hold events the controller already has.
  proxy.StallReplies(true);
  for (const auto& h : hosts) {
    jobs[h][2].go->Send("r2");
    size_t e = 0;
    ASSERT_TRUE(WaitEvent(events.get(), IsEvent("job_finished", jobs[h][2].jid), &e))
        << events->StdoutText();
  }
  ctl_cursor = cluster_.controller()->StderrLineCount();
  proxy.Drop();
  proxy.StallReplies(false);
  for (const auto& h : hosts) {
    size_t c = ctl_cursor;
    ASSERT_TRUE(cluster_.controller()->WaitStderr(Contains({"agent '" + h + "' connected"}), &c))
        << h << " did not reconnect through the proxy";
  }
  RoundTrip("all");
  EXPECT_GE(proxy.accepted(), accepted_before + 4) << "the agents did not reconnect via the proxy";

  // Exactly once, and in each agent's order: job 0, 1, 2 finished in that order on each host.
  auto log = cluster_.AllEvents();
  std::vector<std::string> jids;
  for (const auto& h : hosts) {
    std::vector<std::string> order;
    for (const auto& e : log) {
      if (e.value("type", "") != "job_finished" || e.value("host", "") != h) continue;
      for (int i = 0; i < kPerHost; ++i) {
        if (jobs[h][i].jid != e.value("jid", "")) continue;
        order.push_back(jobs[h][i].jid);
        EXPECT_EQ(e["result"].value("stdout", ""), i < 2 ? "done r1" : "done r2") << e;
      }
    }
    std::vector<std::string> expected;
    for (const auto& j : jobs[h]) {
      expected.push_back(j.jid);
      jids.push_back(j.jid);
      EXPECT_EQ(CountLines(j.runs), 1) << j.jid << " ran more than once";
    }
    EXPECT_EQ(order, expected) << h << ": results out of order or not exactly once";
  }
  ExpectSoundLog(log, jids, jids);
}

// 5. A job prints 300 MB with a 1 MiB stored cap: the result is truncated, the job succeeds,
// agent and controller memory stays bounded, and a concurrent `job logs -f` gets at most the
// live cap and ends with the job.
TEST_F(DurabilityTest, OutputFlood) {
  ASSERT_TRUE(cluster_.StartController());
  ASSERT_TRUE(cluster_.StartAgent("web01", {}, {"--max-output", "1048576"}));
  auto events = cluster_.FollowEvents(0);
  size_t cursor = 0;
  Fifo go(Path("go"), Fifo::kToJob);
  // Prints `tick` for every line on the fifo until `flood`, then floods.
  std::string jid = cluster_.StartAsync("web01",
                                        {"/bin/sh", "-c",
                                         "while read x < " + go.path() +
                                             "; do echo tick; [ \"$x\" = flood ] && break; done; "
                                             "head -c 300000000 /dev/zero | tr '\\0' a"},
                                        60);
  ASSERT_FALSE(jid.empty());

  auto logs = cluster_.StartCli({"job", "logs", jid, "-f"});
  ASSERT_TRUE(logs);
  // Live output is not stored: make sure `logs -f` is attached (it prints a tick) before the
  // flood starts. Each ping makes the job print one tick.
  bool attached = false;
  size_t logs_cursor = 0;
  for (auto start = Clock::now(); !attached && SecondsSince(start) < kWaitSeconds;) {
    go.Send("ping");
    attached = logs->WaitStdout(Contains({"tick"}), &logs_cursor, 1).has_value();
  }
  ASSERT_TRUE(attached) << "job logs -f never showed live output\n" << logs->StderrText();

  auto start = Clock::now();
  go.Send("flood");
  auto fin = WaitEvent(events.get(), IsEvent("job_finished", jid), &cursor, 60);
  ASSERT_TRUE(fin) << "the flood job did not finish";
  double secs = SecondsSince(start);
  const json& result = (*fin)["result"];
  EXPECT_EQ(fin->value("state", ""), "succeeded") << fin->value("state", "");
  EXPECT_EQ(result.value("rc", -1), 0);
  EXPECT_EQ(result.value("stdout_truncated", false), true);
  size_t inline_bytes = result.value("stdout", "").size();
  EXPECT_LE(inline_bytes, size_t{1} << 20) << "the result carries more than the inline cap";
  EXPECT_GT(inline_bytes, size_t{1} << 19) << "the result lost the output it should carry";

  // The spool keeps the cap plus one truncation marker.
  struct stat spooled;
  ASSERT_EQ(
      ::stat((cluster_.AgentStateDir("web01") + "/jobs/" + jid + "/stdout").c_str(), &spooled), 0);
  EXPECT_GE(spooled.st_size, 1 << 20);
  EXPECT_LE(spooled.st_size, (1 << 20) + 256) << "the spool kept more than --max-output";

  long agent_hwm = StatusKb(cluster_.agent("web01")->pid(), "VmHWM");
  long controller_hwm = StatusKb(cluster_.controller()->pid(), "VmHWM");
  std::cout << "[ flood    ] 300 MB in " << secs << " s; peak RSS (VmHWM): agent "
            << agent_hwm / 1024.0 << " MiB, controller " << controller_hwm / 1024.0 << " MiB\n";
  RecordProperty("agent_vmhwm_kb", std::to_string(agent_hwm));
  RecordProperty("controller_vmhwm_kb", std::to_string(controller_hwm));
  EXPECT_GT(agent_hwm, 0);
  EXPECT_LT(agent_hwm, kFloodRssLimitKb) << "agent peak RSS (kB)";
  EXPECT_GT(controller_hwm, 0);
  EXPECT_LT(controller_hwm, kFloodRssLimitKb) << "controller peak RSS (kB)";

  auto rc = logs->WaitExit(kWaitSeconds);
  ASSERT_TRUE(rc) << "job logs -f did not end with the job";
  EXPECT_EQ(*rc, 0) << logs->StderrText();
  ASSERT_TRUE(logs->WaitOutputClosed());
  std::string live = logs->StdoutText();
  size_t a_count = static_cast<size_t>(std::count(live.begin(), live.end(), 'a'));
  EXPECT_GT(a_count, 0u) << "logs -f showed none of the flood";
  // --max-live-output defaults to 1 MiB per stream; the ticks count towards it too.
  EXPECT_LE(live.size(), (size_t{1} << 20) + 16) << "logs -f printed more than the live cap";

  RoundTrip("web01");
  ExpectSoundLog(cluster_.AllEvents(), {jid}, {jid});
}

// 6. A job daemonises a grandchild with setsid and overruns: nothing survives the timeout, and
// nothing is left as a zombie.
TEST_F(DurabilityTest, SetsidGrandchildDiesWithTheTimeout) {
  ASSERT_TRUE(cluster_.StartController());
  ASSERT_TRUE(cluster_.StartAgent("web01"));
  auto events = cluster_.FollowEvents(0);
  size_t cursor = 0;
  Fifo outer(Path("outer"), Fifo::kFromJob);
  Fifo grandchild(Path("grandchild"), Fifo::kFromJob);
  Fifo child(Path("child"), Fifo::kFromJob);
  std::string jid = cluster_.StartAsync(
      "web01",
      {"/bin/sh", "-c",
       "echo $$ > " + outer.path() + "; setsid sh -c 'echo $$ > " + grandchild.path() +
           "; exec sleep 300' & sleep 300 & echo $! > " + child.path() + "; wait"},
      2);
  ASSERT_FALSE(jid.empty());
  auto outer_pid = outer.ReadLine();
  auto gc_pid = grandchild.ReadLine();
  auto child_pid = child.ReadLine();
  ASSERT_TRUE(outer_pid && gc_pid && child_pid) << "the job did not start its processes";
  ASSERT_TRUE(WaitEvent(events.get(), IsEvent("job_started", jid), &cursor));
  std::string shim_pid = ReadFile(cluster_.AgentStateDir("web01") + "/jobs/" + jid + "/shim.pid");
  ASSERT_TRUE(ProcessAlive(std::stoi(*gc_pid)));
  EXPECT_NE(ProcState(std::stoi(*gc_pid)), "") << "setsid grandchild";

  auto fin = WaitEvent(events.get(), IsEvent("job_finished", jid), &cursor);
  ASSERT_TRUE(fin) << events->StdoutText();
  EXPECT_EQ(fin->value("state", ""), "timed_out") << *fin;
  EXPECT_EQ((*fin)["result"].value("msg", ""), "Timeout exceeded") << *fin;

  std::vector<std::pair<std::string, std::string>> pids = {
      {"job", *outer_pid}, {"setsid grandchild", *gc_pid}, {"child", *child_pid}};
  if (!shim_pid.empty()) pids.push_back({"shim", shim_pid});
  for (const auto& [what, pid] : pids) {
    // Gone entirely: not running, and not a zombie nobody reaped.
    EXPECT_EQ(ProcState(std::stoi(pid)), "")
        << "the " << what << " (pid " << pid << ") is still there after the timeout";
  }
  RoundTrip("web01");
  ExpectSoundLog(cluster_.AllEvents(), {jid}, {jid});
}

// 7. The agent's state dir fills up: a new job fails with a clear error, the agent keeps
// serving, and once there is room again jobs run.
class DurabilityFullDiskTest : public DurabilityTest {
 protected:
  void TearDown() override {
    if (!mounted_.empty()) {
      if (auto* a = cluster_.agent("web01")) a->Stop();
      cluster_.KillLeftoverJobs();
      if (::umount2(mounted_.c_str(), 0) != 0) {
        ADD_FAILURE() << "umount " << mounted_ << ": " << std::strerror(errno);
        ::umount2(mounted_.c_str(), MNT_DETACH);
      }
    }
  }
  // Mounts a 2 MiB tmpfs as web01's state dir; returns why not ("" when mounted).
  std::string MountSmallStateDir() {
    if (::geteuid() != 0) return "full-disk tests need root to mount a small tmpfs";
    const std::string state = cluster_.AgentStateDir("web01");
    if (::mkdir(state.c_str(), 0700) != 0) return "mkdir " + state + ": " + std::strerror(errno);
    if (::mount("tmpfs", state.c_str(), "tmpfs", 0, "size=2m,mode=0700") != 0) {
      return std::string("cannot mount a tmpfs for the full-disk test (") + std::strerror(errno) +
             "); needs root with CAP_SYS_ADMIN";
    }
    mounted_ = state;
    return "";
  }

  // Writes a filler file until the disk is full; returns its path.
  std::string FillDisk() {
    const std::string filler = mounted_ + "/filler";
    std::ofstream out(filler, std::ios::binary);
    std::string block(64 * 1024, 'x');
    while (out.write(block.data(), static_cast<std::streamsize>(block.size()))) {
    }
    return filler;
  }

  bool AgentConnected(const std::string& name) {
    CliResult r = cluster_.Cli({"agents", "-o", "json"});
    EXPECT_EQ(r.rc, 0) << r;
    for (const auto& a : r.JsonLines()) {
      if (a.value("name", "") == name) return a.value("state", "") == "connected";
    }
    return false;
  }

  std::string mounted_;
};

TEST_F(DurabilityFullDiskTest, FullSpoolIsAClearErrorAndTheAgentKeepsServing) {
  ASSERT_TRUE(cluster_.StartController());
  if (std::string why = MountSmallStateDir(); !why.empty()) GTEST_SKIP() << why;
  ASSERT_TRUE(cluster_.StartAgent("web01"));
  RoundTrip("web01");  // the agent works, and has its outbox state on the small disk

  const std::string filler = FillDisk();
  CliResult r = cluster_.Cli({"exec", "web01", "-o", "json", "--", "/bin/echo", "hi"});
  EXPECT_EQ(r.rc, 2) << r;
  auto lines = r.JsonLines();
  ASSERT_EQ(lines.size(), 1u) << r;
  std::string msg = lines[0].value("msg", "");
  EXPECT_EQ(lines[0].value("status", ""), "failed") << r;
  EXPECT_TRUE(msg.find("No space left") != std::string::npos) << "unclear error: " << msg;
  EXPECT_TRUE(msg.find("spool") != std::string::npos)
      << "the error does not name the spool: " << msg;
  std::string failed_jid = lines[0].value("ansible_job_id", "");

  // Still serving.
  EXPECT_TRUE(AgentConnected("web01"));
  EXPECT_TRUE(ProcessAlive(cluster_.agent("web01")->pid()));

  // Room again: jobs run.
  ASSERT_EQ(::unlink(filler.c_str()), 0);
  r = cluster_.Cli({"exec", "web01", "-o", "json", "--", "/bin/echo", "hi"});
  ASSERT_EQ(r.rc, 0) << r;
  lines = r.JsonLines();
  ASSERT_EQ(lines.size(), 1u) << r;
  EXPECT_EQ(lines[0].value("stdout", ""), "hi") << r;
  std::string ok_jid = lines[0].value("ansible_job_id", "");
  std::vector<std::string> jids = {ok_jid};
  if (!failed_jid.empty()) jids.push_back(failed_jid);
  ExpectSoundLog(cluster_.AllEvents(), jids, {ok_jid});
}

// 7b. A job ends while the spool disk is full: its result is still reported exactly once
// (succeeded, or lost with a message naming the full disk), the agent keeps serving, and once
// there is room again an agent restart finds its state sound: nothing lost or doubled.
TEST_F(DurabilityFullDiskTest, JobEndingOnAFullDiskIsReportedOnce) {
  ASSERT_TRUE(cluster_.StartController());
  if (std::string why = MountSmallStateDir(); !why.empty()) GTEST_SKIP() << why;
  ASSERT_TRUE(cluster_.StartAgent("web01"));
  auto events = cluster_.FollowEvents(0);
  size_t cursor = 0;
  Fifo ready(Path("ready"), Fifo::kFromJob);
  Fifo go(Path("go"), Fifo::kToJob);
  const std::string runs = Path("runs");  // outside the small disk
  std::string jid = cluster_.StartAsync("web01", GatedJob(ready, go, runs), 60);
  ASSERT_FALSE(jid.empty());
  auto pid = ready.ReadLine();
  ASSERT_TRUE(pid) << "the job never started";
  ASSERT_TRUE(WaitEvent(events.get(), IsEvent("job_started", jid), &cursor));

  const std::string filler = FillDisk();
  go.Send("full");
  auto fin = WaitEvent(events.get(), IsEvent("job_finished", jid), &cursor);
  ASSERT_TRUE(fin) << "the result of a job that ended on a full disk never arrived\n"
                   << events->StdoutText();
  std::string state = fin->value("state", "");
  std::string msg = (*fin)["result"].value("msg", "");
  RecordProperty("final_state", state);
  EXPECT_TRUE(state == "succeeded" || state == "lost") << *fin;
  if (state == "lost") {
    EXPECT_NE(msg.find("no space left"), std::string::npos) << "unclear error: " << msg;
  }
  EXPECT_TRUE(AgentConnected("web01"));

  // Room again; the agent restarts on the same state: it comes up, reports nothing twice, and
  // runs jobs.
  ASSERT_EQ(::unlink(filler.c_str()), 0);
  EXPECT_EQ(cluster_.StopAgent("web01"), 0);
  ASSERT_TRUE(cluster_.StartAgent("web01"));
  CliResult r = cluster_.Cli({"exec", "web01", "-o", "json", "--", "/bin/echo", "again"});
  ASSERT_EQ(r.rc, 0) << r;
  auto lines = r.JsonLines();
  ASSERT_EQ(lines.size(), 1u) << r;
  EXPECT_EQ(lines[0].value("stdout", ""), "again") << r;
  EXPECT_EQ(CountLines(runs), 1) << "the job ran more than once";
  json st = Status(jid);
  EXPECT_EQ(st.value("state", ""), state) << st;
  ExpectSoundLog(cluster_.AllEvents(), {jid, lines[0].value("ansible_job_id", "")}, {jid});
}

// 8. A job its agent never accepts ends as `unreachable` after --delivery-timeout; one that ran
// too long ends as `timed_out`. The unreachable job must then never run.
TEST_F(DurabilityTest, NeverDeliveredIsNotTimedOut) {
  ASSERT_TRUE(cluster_.StartController({"--delivery-timeout", "2"}));
  ASSERT_TRUE(cluster_.StartAgent("web01"));
  auto events = cluster_.FollowEvents(0);
  size_t cursor = 0;
  const std::string ran = Path("ran");

  // The agent is connected but frozen: the dispatch cannot be accepted.
  Process* agent = cluster_.agent("web01");
  agent->Signal(SIGSTOP);
  auto start = Clock::now();
  std::string never = cluster_.StartAsync("web01", {"/bin/sh", "-c", "echo ran >> " + ran}, 60);
  ASSERT_FALSE(never.empty());
  auto fin = WaitEvent(events.get(), IsEvent("job_finished", never), &cursor);
  double secs = SecondsSince(start);
  agent->Signal(SIGCONT);
  ASSERT_TRUE(fin) << events->StdoutText();
  EXPECT_EQ(fin->value("state", ""), "unreachable") << *fin;
  EXPECT_EQ(fin->value("status", ""), "unreachable") << *fin;
  EXPECT_EQ((*fin)["result"].value("unreachable", false), true) << *fin;
  EXPECT_GE(secs, 1.5) << "unreachable before the delivery timeout";
  EXPECT_LT(secs, 15) << "a 2 s delivery timeout took " << secs << " s";

  // A job that runs and overruns: timed_out, a different final state.
  Fifo ready(Path("ready"), Fifo::kFromJob);
  std::string overran = cluster_.StartAsync(
      "web01", {"/bin/sh", "-c", "echo $$ > " + ready.path() + "; exec sleep 60"}, 1);
  ASSERT_FALSE(overran.empty());
  auto fin2 = WaitEvent(events.get(), IsEvent("job_finished", overran), &cursor);
  ASSERT_TRUE(fin2) << events->StdoutText();
  EXPECT_EQ(fin2->value("state", ""), "timed_out") << *fin2;
  EXPECT_EQ((*fin2)["result"].value("msg", ""), "Timeout exceeded") << *fin2;

  // The thawed agent has read the stale dispatch by now (it came first on the same stream).
  RoundTrip("web01");
  json st = Status(never);
  EXPECT_EQ(st.value("state", ""), "unreachable") << st;
  EXPECT_NE(Status(overran).value("state", ""), st.value("state", ""));
  ExpectSoundLog(cluster_.AllEvents(), {never, overran}, {overran});
  // "Never delivered" must stay true: the job the controller gave up on must not run later.
  EXPECT_FALSE(Exists(cluster_.AgentStateDir("web01") + "/jobs/" + never))
      << "the agent accepted job " << never << " after it was recorded unreachable";
  EXPECT_FALSE(Exists(ran)) << "job " << never << " ran after it was recorded unreachable";

  Kill9(agent);
}

}  // namespace
}  // namespace tachyon::itest
