#include <gtest/gtest.h>

#include "controller/cli/output.h"

namespace tachyon::cli {
namespace {

using nlohmann::json;

TEST(CliOutputTest, CommandTextLooksLikeAnsibleAdHoc) {
  json r = {{"rc", 0}, {"stdout", "hi"}, {"stderr", ""}, {"changed", true}};
  EXPECT_EQ(FormatExecResult(Format::kText, "command", "web01", "changed", r),
            "web01 | CHANGED | rc=0 >>\nhi\n");
  json f = {{"rc", 2}, {"stdout", ""}, {"stderr", "boom"}, {"msg", "non-zero return code"}};
  EXPECT_EQ(FormatExecResult(Format::kText, "shell", "web01", "failed", f),
            "web01 | FAILED | rc=2 >>\nboom\nnon-zero return code\n");
}

TEST(CliOutputTest, OtherModulesAndUnreachableUseJson) {
  json r = {{"ping", "pong"}, {"changed", false}};
  EXPECT_EQ(FormatExecResult(Format::kText, "ping", "h", "ok", r),
            "h | SUCCESS => {\n    \"changed\": false,\n    \"ping\": \"pong\"\n}\n");
  json u = {{"unreachable", true}, {"msg", "x"}};
  EXPECT_EQ(FormatExecResult(Format::kText, "command", "h", "unreachable", u)
                .rfind("h | UNREACHABLE! => {", 0),
            0u);
  json t = {{"rc", -15}, {"timed_out", true}, {"msg", "Timeout exceeded"}};
  EXPECT_EQ(
      FormatExecResult(Format::kText, "command", "h", "timed_out", t).rfind("h | FAILED! => {", 0),
      0u);
}

TEST(CliOutputTest, JsonLineMergesHostAndStatus) {
  json r = {{"rc", 0}, {"ansible_job_id", "j1.2"}};
  std::string line = FormatExecResult(Format::kJson, "command", "web01", "changed", r);
  ASSERT_EQ(line.back(), '\n');
  json parsed = json::parse(line);
  EXPECT_EQ(parsed["host"], "web01");
  EXPECT_EQ(parsed["status"], "changed");
  EXPECT_EQ(parsed["ansible_job_id"], "j1.2");
}

TEST(CliOutputTest, EventLines) {
  json data = {{"state", "succeeded"}, {"result", {{"rc", 0}, {"msg", ""}}}};
  json line = json::parse(FormatEvent(Format::kJson, 7, "2026-01-01T00:00:00Z", "job_finished",
                                      "web01", "j1.2", "", data));
  EXPECT_EQ(line["seq"], 7);
  EXPECT_EQ(line["type"], "job_finished");
  EXPECT_EQ(line["result"]["rc"], 0);
  std::string text = FormatEvent(Format::kText, 7, "ts", "job_finished", "web01", "j1.2", "", data);
  EXPECT_EQ(text, "7 ts job_finished host=web01 jid=j1.2 rc=0 state=succeeded\n");
}

TEST(CliOutputTest, OneEventIsOneLine) {
  json data = {{"stream", "stdout"}, {"data", "two\nlines"}};
  EXPECT_EQ(FormatEvent(Format::kText, 3, "ts", "job_output", "h", "j1.1", "", data),
            "3 ts job_output host=h jid=j1.1 data=\"two\\nlines\" stream=stdout\n");
}

TEST(CliOutputTest, ExitCodes) {
  EXPECT_EQ(ExitCodeFor(false, false), 0);
  EXPECT_EQ(ExitCodeFor(true, true), 2);
  EXPECT_EQ(ExitCodeFor(false, true), 3);
}

TEST(CliOutputTest, InvalidUtf8NeverThrows) {
  json r = {{"rc", 0}, {"stdout", std::string("\xff\xfe ok")}};
  EXPECT_NO_THROW(FormatExecResult(Format::kJson, "command", "h", "changed", r));
}

TEST(RolloutPrinterTest, TextLooksLikeAnsiblePlaybook) {
  RolloutPrinter p(Format::kText);
  EXPECT_EQ(p.OnEvent("play_started", "", {{"play", "web"}, {"hosts", {"a", "b"}}}),
            "\nPLAY [web] " + std::string(79 - 10, '*') + "\n");
  EXPECT_EQ(p.OnEvent("task_started", "", {{"task", "t"}, {"action", "command"}}),
            "\nTASK [t] " + std::string(79 - 8, '*') + "\n");
  EXPECT_EQ(p.LiveLine(3), "  running (3s): a, b");
  EXPECT_EQ(p.OnEvent("job_started", "a", json::object()), "") << "jobs are not the story";
  EXPECT_EQ(p.OnEvent("host_result", "a", {{"status", "changed"}, {"result", {{"rc", 0}}}}),
            "changed: [a]\n");
  EXPECT_EQ(p.LiveLine(4), "  running (4s): b");
  EXPECT_EQ(p.OnEvent("host_result", "b",
                      {{"status", "failed"}, {"ignored", true}, {"result", {{"rc", 1}}}}),
            "failed: [b] => {\"rc\":1}\n...ignoring\n");
  EXPECT_EQ(p.LiveLine(5), "");
  p.OnEvent("task_started", "", {{"task", "d"}, {"action", "debug"}});
  EXPECT_EQ(p.OnEvent("host_result", "a", {{"status", "ok"}, {"result", {{"msg", "hi"}}}}),
            "ok: [a] => {\n    \"msg\": \"hi\"\n}\n");
  EXPECT_EQ(p.OnEvent("host_result", "a",
                      {{"status", "ok"}, {"item_result", true}, {"item", "x"}, {"result", {}}}),
            "ok: [a] => (item=x) => {}\n");
  EXPECT_EQ(p.OnEvent("host_result", "a", {{"status", "skipped"}, {"result", {}}}),
            "skipping: [a]\n");
  EXPECT_FALSE(p.finished());
  std::string recap = p.OnEvent("rollout_finished", "",
                                {{"rc", 2}, {"hosts", {{"a", {{"ok", 2}, {"changed", 1}}}}}});
  EXPECT_NE(recap.find("PLAY RECAP ***"), std::string::npos);
  EXPECT_NE(recap.find("a                          : ok=2    changed=1    unreachable=0    "
                       "failed=0    skipped=0    rescued=0    ignored=0   \n"),
            std::string::npos)
      << recap;
  EXPECT_TRUE(p.finished());
  EXPECT_EQ(p.rc(), 2);
}

TEST(RolloutPrinterTest, JsonFollowsTheContract) {
  RolloutPrinter p(Format::kJson);
  json r = json::parse(p.OnEvent("host_result", "web01",
                                 {{"play", "p"},
                                  {"task", "t"},
                                  {"status", "ok"},
                                  {"ignored", false},
                                  {"item_result", false},
                                  {"result", {{"rc", 0}}}}));
  EXPECT_EQ(r, json({{"type", "result"},
                     {"play", "p"},
                     {"task", "t"},
                     {"host", "web01"},
                     {"status", "ok"},
                     {"ignored", false},
                     {"result", {{"rc", 0}}}}));
  json recap =
      json::parse(p.OnEvent("rollout_finished", "", {{"rc", 0}, {"hosts", json::object()}}));
  EXPECT_EQ(recap, json({{"type", "recap"}, {"rc", 0}, {"hosts", json::object()}}));
  EXPECT_EQ(p.rc(), 0);
  RolloutPrinter aborted(Format::kJson);
  aborted.OnEvent("rollout_aborted", "", json::object());
  EXPECT_EQ(aborted.rc(), 99);
}

}  // namespace
}  // namespace tachyon::cli
