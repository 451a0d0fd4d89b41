// Unit tests of the pure parts of the modules: Ansible/Python formatting and parsing.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/time/civil_time.h"
#include "agent/modules/args.h"
#include "agent/modules/module.h"
#include "agent/modules/result_util.h"
#include "agent/modules/shlex.h"

namespace tachyon::modules {
namespace {

using ::testing::ElementsAre;

TEST(ShlexSplitTest, SplitsLikePython) {
  // Expected values from python3 -c 'import shlex; print(shlex.split(...))'.
  EXPECT_THAT(*ShlexSplit("echo hello  world"), ElementsAre("echo", "hello", "world"));
  EXPECT_THAT(*ShlexSplit(R"(a "b c" 'd e' f\ g)"), ElementsAre("a", "b c", "d e", "f g"));
  EXPECT_THAT(*ShlexSplit(R"("q\"x" "a\b" 'a\b' "\\")"), ElementsAre("q\"x", "a\\b", "a\\b", "\\"));
  EXPECT_THAT(*ShlexSplit(R"(a"b c"d '' "")"), ElementsAre("ab cd", "", ""));
  EXPECT_THAT(*ShlexSplit("x; $(id) `y` #z"), ElementsAre("x;", "$(id)", "`y`", "#z"));
  EXPECT_THAT(*ShlexSplit("'a\nb' c\td\n"), ElementsAre("a\nb", "c", "d"));
  EXPECT_THAT(*ShlexSplit(""), ElementsAre());
  EXPECT_EQ(ShlexSplit("'abc").status().message(), "No closing quotation");
  EXPECT_EQ(ShlexSplit("\"abc").status().message(), "No closing quotation");
  EXPECT_EQ(ShlexSplit("abc\\").status().message(), "No escaped character");
}

TEST(ResultUtilTest, PythonDatetime) {
  absl::TimeZone utc = absl::UTCTimeZone();
  absl::Time t = absl::FromCivil(absl::CivilSecond(2026, 11, 28, 23, 17, 27), utc);
  EXPECT_EQ(FormatPythonDatetime(t + absl::Microseconds(123456), utc),
            "2026-11-28 23:17:27.123456");
  EXPECT_EQ(FormatPythonDatetime(t + absl::Microseconds(5), utc), "2026-11-28 23:17:27.000005");
  // str(datetime) drops a zero fraction.
  EXPECT_EQ(FormatPythonDatetime(t, utc), "2026-11-28 23:17:27");
}

TEST(ResultUtilTest, PythonTimedelta) {
  EXPECT_EQ(FormatPythonTimedelta(absl::Microseconds(1002345)), "0:00:01.002345");
  EXPECT_EQ(FormatPythonTimedelta(absl::Seconds(3725)), "1:02:05");
  EXPECT_EQ(FormatPythonTimedelta(absl::Hours(24) + absl::Microseconds(1)),
            "1 day, 0:00:00.000001");
  EXPECT_EQ(FormatPythonTimedelta(absl::Hours(50)), "2 days, 2:00:00");
  EXPECT_EQ(FormatPythonTimedelta(absl::ZeroDuration()), "0:00:00");
}

TEST(ResultUtilTest, SanitizeUtf8) {
  EXPECT_EQ(SanitizeUtf8("abc"), "abc");
  EXPECT_EQ(SanitizeUtf8("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80");
  EXPECT_EQ(SanitizeUtf8("\xFF"
                         "a\xC3"),
            "\xEF\xBF\xBD"
            "a\xEF\xBF\xBD");
  EXPECT_EQ(SanitizeUtf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(SanitizeUtf8("a\xE2\x82", /*drop_partial_tail=*/true), "a");
}

TEST(ResultUtilTest, SplitLinesLikePython) {
  EXPECT_THAT(PythonSplitLines("a\nb\r\nc\rd\n"), ElementsAre("a", "b", "c", "d"));
  EXPECT_THAT(PythonSplitLines("a\n\nb"), ElementsAre("a", "", "b"));
  EXPECT_THAT(PythonSplitLines(""), ElementsAre());
  EXPECT_THAT(PythonSplitLines("\n"), ElementsAre(""));
  EXPECT_THAT(PythonSplitLines("a\x0b"
                               "b\xE2\x80\xA8"
                               "c"),
              ElementsAre("a", "b", "c"));
}

TEST(ResultUtilTest, RStripNewlines) {
  EXPECT_EQ(RStripNewlines("a\n"), "a");
  EXPECT_EQ(RStripNewlines("a\r\n\n"), "a");
  EXPECT_EQ(RStripNewlines("a \n"), "a ");
  EXPECT_EQ(RStripNewlines("\na"), "\na");
}

TEST(ModuleRegistryTest, Lookup) {
  EXPECT_NE(FindModule("command"), nullptr);
  EXPECT_NE(FindModule("shell"), nullptr);
  EXPECT_NE(FindModule("ping"), nullptr);
  EXPECT_EQ(FindModule("nope"), nullptr);
  EXPECT_THAT(ModuleNames(),
              ElementsAre("apt", "command", "copy", "dnf", "file", "lineinfile", "package", "ping",
                          "raw", "script", "service", "setup", "shell", "stat", "systemd",
                          "systemd_service", "uri", "wait_for", "yum"));
}

TEST(ModuleValidateTest, CommandArguments) {
  const Module* command = FindModule("command");
  EXPECT_TRUE(command->Validate({{"cmd", "echo hi"}}).ok());
  EXPECT_TRUE(command->Validate({{"_raw_params", "echo hi"}, {"chdir", "/tmp"}}).ok());
  EXPECT_TRUE(command->Validate({{"argv", {"echo", 1, true}}}).ok());
  EXPECT_EQ(command->Validate(nlohmann::json::object()).message(), "no command given");
  EXPECT_EQ(command->Validate({{"cmd", "   "}}).message(), "no command given");
  EXPECT_EQ(command->Validate({{"cmd", "echo"}, {"argv", {"echo"}}}).message(),
            "only command or argv can be given, not both");
  absl::Status st = command->Validate({{"cmd", "echo"}, {"foo", 1}, {"bar", 2}});
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(),
            "Unsupported parameters for (command) module: bar, foo. Supported parameters "
            "include: _raw_params, _uses_shell, argv, chdir, creates, executable, removes, "
            "stdin, stdin_add_newline, strip_empty_ends.");
  EXPECT_EQ(command->Validate({{"cmd", "echo 'x"}}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(command->Validate({{"cmd", "echo"}, {"chdir", {1, 2}}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(command->Validate({{"cmd", "echo"}, {"strip_empty_ends", "maybe"}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(command->Validate(nlohmann::json::array()).code(), absl::StatusCode::kInvalidArgument);
  // The shell's string is not split, so unbalanced quotes are the shell's business.
  EXPECT_TRUE(FindModule("shell")->Validate({{"cmd", "echo 'x"}}).ok());
}

TEST(ModuleValidateTest, PingArguments) {
  const Module* ping = FindModule("ping");
  EXPECT_TRUE(ping->Validate(nlohmann::json::object()).ok());
  EXPECT_TRUE(ping->Validate({{"data", "x"}}).ok());
  EXPECT_EQ(ping->Validate({{"x", 1}}).message(),
            "Unsupported parameters for (ping) module: x. Supported parameters include: data.");
}

}  // namespace
}  // namespace tachyon::modules
