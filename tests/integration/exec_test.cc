// Ad-hoc exec against a real controller and three real agents.

#include <algorithm>
#include <chrono>
#include <iostream>
#include <set>

#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace tachyon::itest {
namespace {

class ExecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.StartController());
    ASSERT_TRUE(cluster_.StartAgents(3));
  }

  // The exec output lines keyed by host.
  static std::map<std::string, json> ByHost(const CliResult& r) {
    std::map<std::string, json> by_host;
    for (auto& j : r.JsonLines()) by_host[j.value("host", "")] = j;
    return by_host;
  }

  Cluster cluster_;
};

TEST_F(ExecTest, AllHostsRunTheCommand) {
  CliResult r = cluster_.Cli({"exec", "all", "-o", "json", "--", "/bin/echo", "hello", "world"});
  ASSERT_EQ(r.rc, 0) << r;
  auto by_host = ByHost(r);
  ASSERT_EQ(by_host.size(), 3u) << r;
  for (const char* host : {"web01", "web02", "web03"}) {
    ASSERT_TRUE(by_host.count(host)) << host << "\n" << r;
    const json& j = by_host[host];
    EXPECT_EQ(j.value("status", ""), "changed") << j;
    EXPECT_EQ(j.value("rc", -1), 0) << j;
    EXPECT_EQ(j.value("stdout", ""), "hello world") << j;
    EXPECT_EQ(j["stdout_lines"], json::array({"hello world"})) << j;
    EXPECT_EQ(j.value("failed", true), false) << j;
    EXPECT_TRUE(j.contains("start") && j.contains("end") && j.contains("delta")) << j;
  }
}

TEST_F(ExecTest, TextOutputLooksLikeAnsible) {
  CliResult r = cluster_.Cli({"exec", "web01", "--", "/bin/echo", "hi"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("web01 | CHANGED | rc=0"), std::string::npos) << r;
  EXPECT_NE(r.out.find("hi"), std::string::npos) << r;
}

TEST_F(ExecTest, GroupPatternSelectsItsHosts) {
  CliResult r = cluster_.Cli({"exec", "web", "-o", "json", "--", "/bin/true"});
  ASSERT_EQ(r.rc, 0) << r;
  auto by_host = ByHost(r);
  EXPECT_EQ(by_host.size(), 2u) << r;
  EXPECT_TRUE(by_host.count("web01") && by_host.count("web02")) << r;

  r = cluster_.Cli({"exec", "all:!web", "-o", "json", "--", "/bin/true"});
  ASSERT_EQ(r.rc, 0) << r;
  by_host = ByHost(r);
  EXPECT_EQ(by_host.size(), 1u) << r;
  EXPECT_TRUE(by_host.count("web03")) << r;
}

TEST_F(ExecTest, CommandArgumentsArePassedLiterally) {
  // printf '%s\n' 'a;b' '$(id)' '`id`' $'x\ny'
  CliResult r = cluster_.Cli(
      {"exec", "web01", "-o", "json", "--", "printf", "%s\\n", "a;b", "$(id)", "`id`", "x\ny"});
  ASSERT_EQ(r.rc, 0) << r;
  auto by_host = ByHost(r);
  ASSERT_TRUE(by_host.count("web01")) << r;
  EXPECT_EQ(by_host["web01"].value("stdout", ""), "a;b\n$(id)\n`id`\nx\ny") << r;

  // The same in text mode, as a user sees it.
  r = cluster_.Cli({"exec", "web01", "--", "printf", "%s\\n", "a;b", "$(id)", "`id`", "x\ny"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_NE(r.out.find("a;b\n$(id)\n`id`\nx\ny"), std::string::npos) << r;
}

TEST_F(ExecTest, CommandModuleFreeFormHasNoShell) {
  // -a with the command module is split into words, never given to a shell.
  CliResult r =
      cluster_.Cli({"exec", "web01", "-o", "json", "-a", "/bin/echo a;b $(id) `id` > /dev/null"});
  ASSERT_EQ(r.rc, 0) << r;
  auto by_host = ByHost(r);
  ASSERT_TRUE(by_host.count("web01")) << r;
  EXPECT_EQ(by_host["web01"].value("stdout", ""), "a;b $(id) `id` > /dev/null") << r;
}

TEST_F(ExecTest, ShellModuleUsesAShell) {
  CliResult r = cluster_.Cli(
      {"exec", "web02", "-m", "shell", "-o", "json", "-a", "echo one; echo two | tr a-z A-Z"});
  ASSERT_EQ(r.rc, 0) << r;
  auto by_host = ByHost(r);
  ASSERT_TRUE(by_host.count("web02")) << r;
  EXPECT_EQ(by_host["web02"].value("stdout", ""), "one\nTWO") << r;
}

TEST_F(ExecTest, PingModule) {
  CliResult r = cluster_.Cli({"exec", "all", "-m", "ping", "-o", "json"});
  ASSERT_EQ(r.rc, 0) << r;
  auto by_host = ByHost(r);
  ASSERT_EQ(by_host.size(), 3u) << r;
  for (auto& [host, j] : by_host) {
    EXPECT_EQ(j.value("status", ""), "ok") << j;
    EXPECT_EQ(j.value("ping", ""), "pong") << j;
  }
}

TEST_F(ExecTest, FailingCommandExitsTwo) {
  CliResult r = cluster_.Cli({"exec", "web01", "-o", "json", "--", "/bin/sh", "-c", "exit 3"});
  EXPECT_EQ(r.rc, 2) << r;
  auto by_host = ByHost(r);
  ASSERT_TRUE(by_host.count("web01")) << r;
  EXPECT_EQ(by_host["web01"].value("status", ""), "failed") << r;
  EXPECT_EQ(by_host["web01"].value("rc", -1), 3) << r;
  EXPECT_EQ(by_host["web01"].value("failed", false), true) << r;
}

TEST_F(ExecTest, MissingExecutableFails) {
  CliResult r = cluster_.Cli({"exec", "web01", "-o", "json", "--", "/nonexistent/tachyon-cmd"});
  EXPECT_EQ(r.rc, 2) << r;
  auto by_host = ByHost(r);
  ASSERT_TRUE(by_host.count("web01")) << r;
  EXPECT_EQ(by_host["web01"].value("failed", false), true) << r;
}

TEST_F(ExecTest, UnknownPatternIsAClearError) {
  CliResult r = cluster_.Cli({"exec", "nosuchhost42", "--", "/bin/true"});
  EXPECT_EQ(r.rc, 1) << r;
  EXPECT_NE(r.err.find("nosuchhost42"), std::string::npos) << r;
  EXPECT_EQ(r.out, "") << r;
}

TEST_F(ExecTest, PortFileHoldsTheListeningPort) {
  // By the time a CLI round trip is done the controller has long written its port file.
  CliResult r = cluster_.Cli({"agents"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_EQ(ReadFile(cluster_.dir() + "/controller.port"), std::to_string(cluster_.port()) + "\n");
}

TEST_F(ExecTest, AgentsListsAllConnected) {
  CliResult r = cluster_.Cli({"agents", "-o", "json"});
  ASSERT_EQ(r.rc, 0) << r;
  std::set<std::string> names;
  for (const auto& a : r.JsonLines()) {
    // The controller's own host (its embedded executor) is listed too.
    if (a.value("name", "") == "localhost") continue;
    names.insert(a.value("name", ""));
    EXPECT_EQ(a.value("state", ""), "connected") << a;
    EXPECT_FALSE(a.value("version", "").empty()) << a;
    EXPECT_TRUE(a.contains("facts") && a["facts"].is_object()) << a;
    EXPECT_TRUE(a.contains("groups") && a["groups"].is_array()) << a;
  }
  EXPECT_EQ(names, (std::set<std::string>{"web01", "web02", "web03"})) << r;
}

TEST_F(ExecTest, AgentsListComesInPagesThatMissNone) {
  // Pages of ~1 byte: one agent each, so the CLI must follow next_after through all of them
  // (a large fleet's facts would otherwise exceed the message limit in one response).
  ASSERT_TRUE(cluster_.RestartController({"--list-agents-page-bytes", "1"}));
  for (const char* name : {"web01", "web02", "web03"}) {
    size_t from = 0;
    ASSERT_TRUE(cluster_.controller()->WaitStderr(
        Contains({std::string("agent '") + name + "' connected"}), &from))
        << cluster_.controller()->StderrText();
  }
  CliResult r = cluster_.Cli({"agents", "-o", "json"});
  ASSERT_EQ(r.rc, 0) << r;
  std::vector<std::string> order;
  for (const auto& a : r.JsonLines()) {
    if (a.value("name", "") == "localhost") continue;
    order.push_back(a.value("name", ""));
    EXPECT_EQ(a.value("state", ""), "connected") << a;
    EXPECT_TRUE(a.contains("facts") && a["facts"].is_object()) << a;
  }
  EXPECT_EQ(order, (std::vector<std::string>{"web01", "web02", "web03"})) << r;
}

TEST_F(ExecTest, EventsShowOneFinishPerJob) {
  CliResult r = cluster_.Cli({"exec", "all", "-o", "json", "--", "/bin/true"});
  ASSERT_EQ(r.rc, 0) << r;
  std::set<std::string> jids;
  for (auto& j : r.JsonLines()) jids.insert(j.value("ansible_job_id", ""));
  ASSERT_EQ(jids.size(), 3u) << r;
  auto events = cluster_.AllEvents();
  uint64_t expect_seq = 0;
  std::map<std::string, int> finished;
  for (const auto& e : events) {
    uint64_t seq = e.value("seq", uint64_t{0});
    if (expect_seq != 0) {
      EXPECT_EQ(seq, expect_seq) << "seq is not gap-free: " << e;
    }
    expect_seq = seq + 1;
    if (e.value("type", "") == "job_finished") ++finished[e.value("jid", "")];
  }
  for (const auto& jid : jids) EXPECT_EQ(finished[jid], 1) << jid;
}

// Round trip of `tachyon exec all -- /bin/true` against 3 agents: CLI start to its exit.
TEST_F(ExecTest, RoundTripLatency) {
  std::vector<double> ms;
  for (int i = 0; i < 20; ++i) {
    auto start = std::chrono::steady_clock::now();
    CliResult r = cluster_.Cli({"exec", "all", "--", "/bin/true"});
    auto end = std::chrono::steady_clock::now();
    ASSERT_EQ(r.rc, 0) << r;
    ms.push_back(std::chrono::duration<double, std::milli>(end - start).count());
  }
  std::sort(ms.begin(), ms.end());
  double median = (ms[9] + ms[10]) / 2;
  std::cout << "exec all -- /bin/true, 3 agents, 20 runs: median " << median << " ms, min "
            << ms.front() << " ms, max " << ms.back() << " ms\n";
  RecordProperty("exec_round_trip_median_ms", std::to_string(median));
  // Generous: this is a sanity bound for a loaded 2-core machine, not a benchmark.
  EXPECT_LT(median, 5000);
}

}  // namespace
}  // namespace tachyon::itest
