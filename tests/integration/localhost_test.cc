// `localhost` is the controller's own host: jobs run by the controller's embedded executor on
// the same job engine the agents use, and survive a controller restart like agent jobs.

#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace tachyon::itest {
namespace {

class LocalhostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(cluster_.StartController());
    ASSERT_TRUE(cluster_.StartAgent("web01", {"web"}));
  }
  Cluster cluster_;
};

TEST_F(LocalhostTest, RunsOnTheControllerAndOnlyByName) {
  CliResult r =
      cluster_.Cli({"exec", "localhost", "-m", "shell", "-o", "json", "-a", "echo $PPID"});
  ASSERT_EQ(r.rc, 0) << r;
  auto lines = r.JsonLines();
  ASSERT_EQ(lines.size(), 1u) << r;
  EXPECT_EQ(lines[0].value("host", ""), "localhost");
  EXPECT_EQ(lines[0].value("rc", -1), 0);

  // As Ansible's implicit localhost, it is not part of `all`.
  r = cluster_.Cli({"exec", "all", "-m", "ping", "-o", "json"});
  ASSERT_EQ(r.rc, 0) << r;
  lines = r.JsonLines();
  ASSERT_EQ(lines.size(), 1u) << r;
  EXPECT_EQ(lines[0].value("host", ""), "web01");

  r = cluster_.Cli({"exec", "web:localhost", "-m", "ping", "-o", "json"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_EQ(r.JsonLines().size(), 2u) << r;
}

TEST_F(LocalhostTest, JobsSurviveAControllerRestartAndReportOnce) {
  Fifo ready(cluster_.dir() + "/ready", Fifo::kFromJob);
  Fifo go(cluster_.dir() + "/go", Fifo::kToJob);
  CliResult r =
      cluster_.Cli({"exec", "localhost", "-B", "60", "-P", "0", "-o", "json", "--", "/bin/sh", "-c",
                    "echo $$ > " + ready.path() + "; read x < " + go.path() + "; echo ran >> " +
                        cluster_.dir() + "/runs; echo got $x"});
  ASSERT_EQ(r.rc, 0) << r;
  std::string jid = r.JsonLines().at(0).value("ansible_job_id", "");
  ASSERT_FALSE(jid.empty()) << r;
  ASSERT_TRUE(ready.ReadLine()) << "the job never started";

  ASSERT_EQ(cluster_.StopController(), 0);
  go.Send("hello");  // the job finishes while the controller is down
  ASSERT_TRUE(cluster_.StartController());

  auto events = cluster_.FollowEvents(0);
  size_t cursor = 0;
  auto finished = WaitEvent(
      events.get(),
      [&](const json& e) {
        return e.value("type", "") == "job_finished" && e.value("jid", "") == jid;
      },
      &cursor);
  ASSERT_TRUE(finished) << "no job_finished for " << jid;
  EXPECT_EQ((*finished)["result"].value("stdout", ""), "got hello");

  r = cluster_.Cli({"job", "status", jid, "-o", "json"});
  ASSERT_EQ(r.rc, 0) << r;
  EXPECT_EQ(r.JsonLines().at(0).value("state", ""), "succeeded") << r;
  int finished_count = 0;
  for (const auto& e : cluster_.AllEvents()) {
    if (e.value("type", "") == "job_finished" && e.value("jid", "") == jid) ++finished_count;
  }
  EXPECT_EQ(finished_count, 1);
  EXPECT_EQ(ReadFile(cluster_.dir() + "/runs"), "ran\n");  // it ran exactly once
}

}  // namespace
}  // namespace tachyon::itest
