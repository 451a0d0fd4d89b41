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

}  // namespace
}  // namespace tachyon::cli
