// raw and script: the process the module plans, run to completion, and the result shaped from
// it. Expected results marked "ansible:" come from ansible-core 2.14
// (`ansible localhost -c local -o -m raw -a ...`).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "agent/modules/module.h"
#include "tests/agent/module_test_util.h"

namespace tachyon::modules {
namespace {

using ::testing::HasSubstr;
using testing::RunModule;
using testing::TempDir;
using testing::ValidateMessage;
using Json = nlohmann::json;

TEST(RawModuleTest, RunsThroughTheShell) {
  // ansible: raw 'echo hi; echo e >&2' -> rc 0, stdout "hi\n", stderr "e\n" (not stripped)
  Json r = RunModule("raw", {{"_raw_params", "echo hi; echo e >&2"}});
  EXPECT_EQ(r, (Json{{"changed", true},
                     {"rc", 0},
                     {"stdout", "hi\n"},
                     {"stdout_lines", {"hi"}},
                     {"stderr", "e\n"},
                     {"stderr_lines", {"e"}}}));
  // ansible: raw 'exit 3' -> {"changed": true, "msg": "non-zero return code", "rc": 3,
  //  "stderr": "", "stderr_lines": [], "stdout": "", "stdout_lines": []} (FAILED)
  EXPECT_EQ(RunModule("raw", {{"_raw_params", "exit 3"}}), (Json{{"changed", true},
                                                                 {"failed", true},
                                                                 {"msg", "non-zero return code"},
                                                                 {"rc", 3},
                                                                 {"stdout", ""},
                                                                 {"stdout_lines", Json::array()},
                                                                 {"stderr", ""},
                                                                 {"stderr_lines", Json::array()}}));
  EXPECT_EQ(RunModule("raw", {{"_raw_params", "echo $0"}, {"executable", "/bin/bash"}})["stdout"],
            "/bin/bash\n");
  // Check mode skips, as Ansible's raw action does.
  EXPECT_EQ(
      RunModule("raw", {{"_raw_params", "touch /nonexistent/x"}, {"_ansible_check_mode", true}}),
      (Json{{"changed", false}, {"skipped", true}}));
  EXPECT_EQ(ValidateMessage("raw", Json::object()), "no command given");
  EXPECT_EQ(ValidateMessage("raw", {{"_raw_params", "x"}, {"chdir", "/"}}),
            "Unsupported parameters for (raw) module: chdir. Supported parameters include: "
            "_raw_params, executable.");
}

TEST(CommandModuleTest, CheckModeDoesNotRun) {
  // ansible (check_mode: true): command touch x -> {"changed": false, "rc": 0, "msg": "Command
  // would have run if not
  //  in check mode", "skipped": true, ...}
  Json r = RunModule("command", {{"cmd", "touch /nonexistent/x"}, {"_ansible_check_mode", true}});
  EXPECT_EQ(r["skipped"], true);
  EXPECT_EQ(r["changed"], false);
  EXPECT_EQ(r["msg"], "Command would have run if not in check mode");
  EXPECT_EQ(r["rc"], 0);
  EXPECT_EQ(r["cmd"], (Json{"touch", "/nonexistent/x"}));
  Json with_creates = RunModule(
      "shell", {{"cmd", "exit 1"}, {"creates", "/nonexistent/y"}, {"_ansible_check_mode", true}});
  EXPECT_EQ(with_creates["changed"], true);
  EXPECT_FALSE(with_creates.contains("skipped"));
}

TEST(CommandModuleTest, MissingBinaryAsRunCommandOSError) {
  // ansible localhost -c local -m command -a "/nonexistent/binary 'a b' \$HOME" -o ->
  // {"changed": false, "cmd": "/nonexistent/binary 'a b' /root", "msg": "[Errno 2] No such file
  //  or directory: b'/nonexistent/binary'", "rc": 2, "stderr": "", "stderr_lines": [],
  //  "stdout": "", "stdout_lines": []}   (failed; no start/end/delta)
  setenv("TACHYON_TEST_HOME", "/root", 1);
  Json r = RunModule("command", {{"_raw_params", "/nonexistent/binary 'a b' $TACHYON_TEST_HOME"}});
  EXPECT_EQ(r, (Json{{"changed", false},
                     {"failed", true},
                     {"cmd", "/nonexistent/binary 'a b' /root"},
                     {"msg", "[Errno 2] No such file or directory: b'/nonexistent/binary'"},
                     {"rc", 2},
                     {"stderr", ""},
                     {"stderr_lines", Json::array()},
                     {"stdout", ""},
                     {"stdout_lines", Json::array()}}));
  unsetenv("TACHYON_TEST_HOME");
  // shell with a missing executable: the argv is [executable, -c, command].
  Json s = RunModule("shell", {{"_raw_params", "echo hi"}, {"executable", "/nonexistent/sh"}});
  EXPECT_EQ(s["cmd"], "/nonexistent/sh -c 'echo hi'");
  EXPECT_EQ(s["msg"], "[Errno 2] No such file or directory: b'/nonexistent/sh'");
  EXPECT_EQ(s["changed"], false);
  EXPECT_FALSE(s.contains("start"));
}

class ScriptModuleTest : public ::testing::Test {
 protected:
  Json Args(const std::string& rest) {
    return {{"_tachyon_script_b64",
             absl::Base64Escape("#!/bin/sh\necho \"args: $@\"; echo err >&2; pwd; "
                                "ls -ld \"$(dirname \"$0\")\" | cut -c1-10; dirname \"$0\"; "
                                "exit ${EXIT:-0}\n")},
            {"_tachyon_script_name", "s.sh"},
            {"_raw_params", rest}};
  }
  TempDir dir_;
};

TEST_F(ScriptModuleTest, RunsAndRemovesTheScript) {
  // ansible: script s.sh a b -> {"changed": true, "rc": 0, "stderr": "err\n",
  //  "stderr_lines": ["err"], "stdout": "args: a b\n", "stdout_lines": ["args: a b"]}
  Json args = Args("a 'b c'");
  args["chdir"] = dir_.path();
  Json r = RunModule("script", args);
  EXPECT_EQ(r["changed"], true);
  EXPECT_EQ(r["rc"], 0);
  EXPECT_EQ(r["stderr"], "err\n");
  ASSERT_EQ(r["stdout_lines"].size(), 4u);
  EXPECT_EQ(r["stdout_lines"][0], "args: a b c");
  EXPECT_EQ(r["stdout_lines"][1], dir_.path());
  EXPECT_EQ(r["stdout_lines"][2], "drwx------");  // the script's private dir
  EXPECT_FALSE(r.contains("failed"));
  EXPECT_FALSE(PathExists(r["stdout_lines"][3].get<std::string>()));  // removed afterwards
}

TEST_F(ScriptModuleTest, FailuresSkipsAndCheckMode) {
  Json args = Args("");
  args["executable"] = "EXIT=4 /bin/sh";
  Json r = RunModule("script", args);
  EXPECT_EQ(r["rc"], 4);
  EXPECT_EQ(r["failed"], true);
  EXPECT_EQ(r["msg"], "non-zero return code");
  // ansible: creates=/tmp -> skipped ("/tmp exists, matching creates option")
  Json creates = Args("");
  creates["creates"] = dir_.path();
  EXPECT_EQ(RunModule("script", creates),
            (Json{{"changed", false},
                  {"skipped", true},
                  {"msg", dir_.path() + " exists, matching creates option"}}));
  Json removes = Args("");
  removes["removes"] = dir_ / "none";
  EXPECT_EQ(RunModule("script", removes)["msg"],
            (dir_ / "none") + " does not exist, matching removes option");
  Json check = Args("");
  check["_ansible_check_mode"] = true;
  EXPECT_EQ(RunModule("script", check),
            (Json{{"changed", false},
                  {"skipped", true},
                  {"msg", "Check mode is not supported for this task."}}));
  Json bad_dir = Args("");
  bad_dir["chdir"] = dir_ / "none";
  EXPECT_THAT(RunModule("script", bad_dir)["msg"].get<std::string>(),
              HasSubstr("Unable to change directory before execution"));
  EXPECT_EQ(ValidateMessage("script", {{"_raw_params", "x"}}),
            "missing required arguments: _tachyon_script_b64, _tachyon_script_name");
  Json traversal = Args("");
  traversal["_tachyon_script_name"] = "../x";
  EXPECT_EQ(ValidateMessage("script", traversal), "_tachyon_script_name must be a plain file name");
}

}  // namespace
}  // namespace tachyon::modules
