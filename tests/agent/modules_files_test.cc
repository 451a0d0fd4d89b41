// copy, file, stat and lineinfile against temp dirs. Expected results marked "ansible:" were
// taken from ansible-core 2.14 (`ansible localhost -c local -o -m MODULE -a ARGS`, paths
// replaced by the test's temp dir).

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "agent/modules/file_util.h"
#include "agent/modules/module.h"
#include "agent/modules/os_util.h"
#include "tests/agent/module_test_util.h"

namespace tachyon::modules {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using testing::RunModule;
using testing::Slurp;
using testing::Spit;
using testing::TempDir;
using ::testing::UnorderedElementsAre;
using testing::ValidateMessage;
using Json = nlohmann::json;

std::vector<std::string> Keys(const Json& j) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  return keys;
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0;
}

class ModuleFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    old_umask_ = umask(022);
    ASSERT_FALSE(dir_.path().empty());
  }
  void TearDown() override { umask(old_umask_); }
  TempDir dir_;
  mode_t old_umask_ = 0;
};

// ---- copy ----

TEST_F(ModuleFilesTest, CopyValidation) {
  EXPECT_EQ(ValidateMessage("copy", {{"content", "x"}}), "dest is required");
  EXPECT_EQ(ValidateMessage("copy", {{"dest", "/x"}}), "src (or content) is required");
  EXPECT_THAT(ValidateMessage("copy", {{"content", "z"}, {"dest", "/x"}, {"foo", 1}}),
              HasSubstr("Unsupported parameters for (copy) module: foo. Supported parameters "
                        "include: _original_basename, _tachyon_content_b64, _tachyon_src_name, "
                        "attributes (attr), backup, checksum, content, dest,"));
  EXPECT_EQ(ValidateMessage("copy", {{"dest", "/x"}, {"_tachyon_content_b64", "!!"}}),
            "_tachyon_content_b64 is not valid base64");
  EXPECT_EQ(ValidateMessage("copy", {{"content", "x"}, {"dest", "/x"}, {"backup", "maybe"}}),
            "argument 'backup' is of type <class 'str'> and we were unable to convert to bool: "
            "\"maybe\"");
  // The executor's own keys pass.
  EXPECT_EQ(ValidateMessage("copy", {{"content", "x"}, {"dest", "/x"}, {"_ansible_diff", true}}),
            "");
}

TEST_F(ModuleFilesTest, CopyContentLikeAnsible) {
  std::string dest = dir_ / "a";
  // ansible: copy content=x dest=/tmp/t/a mode=0644 ->
  // {"changed": true, "checksum": "11f6ad8ec52a2984abaafd7c3b516503785c2072", "dest": ...,
  //  "gid": 0, "group": "root", "md5sum": "9dd4e461268c8034f5c8564e155c67a6", "mode": "0644",
  //  "owner": "root", "size": 1, "src": ..., "state": "file", "uid": 0}
  Json r = RunModule("copy", {{"content", "x"}, {"dest", dest}, {"mode", "0644"}});
  // (ansible-playbook with the json callback, not in diff mode, also shows "diff": [])
  EXPECT_THAT(Keys(r),
              UnorderedElementsAre("changed", "checksum", "dest", "diff", "gid", "group", "md5sum",
                                   "mode", "owner", "size", "src", "state", "uid"));
  EXPECT_EQ(r["diff"], Json::array());
  EXPECT_EQ(r["changed"], true);
  EXPECT_EQ(r["checksum"], "11f6ad8ec52a2984abaafd7c3b516503785c2072");
  EXPECT_EQ(r["md5sum"], "9dd4e461268c8034f5c8564e155c67a6");
  EXPECT_EQ(r["dest"], dest);
  EXPECT_EQ(r["mode"], "0644");
  EXPECT_EQ(r["size"], 1);
  EXPECT_EQ(r["state"], "file");
  EXPECT_EQ(r["uid"], getuid());
  EXPECT_EQ(Slurp(dest), "x");
  EXPECT_FALSE(PathExists(r["src"].get<std::string>()));  // the temp file was renamed

  // ansible (second run): {"changed": false, "checksum": ..., "dest", "gid", "group", "mode",
  //  "owner", "path", "size", "state": "file", "uid"}
  Json again = RunModule("copy", {{"content", "x"}, {"dest", dest}, {"mode", "0644"}});
  // plus the file module's diff (json callback): {"after": {"path"}, "before": {"path"}}
  EXPECT_THAT(Keys(again),
              UnorderedElementsAre("changed", "checksum", "dest", "diff", "gid", "group", "mode",
                                   "owner", "path", "size", "state", "uid"));
  EXPECT_EQ(again["diff"], (Json{{"before", {{"path", dest}}}, {"after", {{"path", dest}}}}));
  EXPECT_EQ(again["changed"], false);
  EXPECT_EQ(again["path"], dest);
}

TEST_F(ModuleFilesTest, CopyNewFileFollowsUmaskAndKeepsExistingMode) {
  std::string dest = dir_ / "n";
  RunModule("copy", {{"content", "1"}, {"dest", dest}});
  EXPECT_EQ(ModeOf(dest), 0644u);
  ASSERT_EQ(chmod(dest.c_str(), 0600), 0);
  Json r = RunModule("copy", {{"content", "2"}, {"dest", dest}});
  EXPECT_EQ(r["changed"], true);
  EXPECT_EQ(r["mode"], "0600");
  EXPECT_EQ(ModeOf(dest), 0600u);
}

TEST_F(ModuleFilesTest, CopyModeOnlyChangeAndCheckMode) {
  std::string dest = dir_ / "d";
  RunModule("copy", {{"content", "a\nb\n"}, {"dest", dest}, {"mode", "0644"}});
  // ansible (check_mode: true, diff: true, mode 0600 on an unchanged 0644 file): changed true,
  // mode still "0644", diff {"before": {"mode": "0644", "path"}, "after": {"mode": "0600", ...}}
  Json check = RunModule("copy", {{"content", "a\nb\n"},
                                  {"dest", dest},
                                  {"mode", "0600"},
                                  {"_ansible_check_mode", true},
                                  {"_ansible_diff", true}});
  EXPECT_EQ(check["changed"], true);
  EXPECT_EQ(check["mode"], "0644");
  EXPECT_EQ(check["diff"]["before"], (Json{{"mode", "0644"}, {"path", dest}}));
  EXPECT_EQ(check["diff"]["after"], (Json{{"mode", "0600"}, {"path", dest}}));
  EXPECT_EQ(ModeOf(dest), 0644u);
  Json r = RunModule("copy", {{"content", "a\nb\n"}, {"dest", dest}, {"mode", "0600"}});
  EXPECT_EQ(r["changed"], true);
  EXPECT_EQ(r["mode"], "0600");
  EXPECT_EQ(ModeOf(dest), 0600u);
  EXPECT_EQ(RunModule("copy", {{"content", "a\nb\n"}, {"dest", dest}, {"mode", "0600"}})["changed"],
            false);
}

TEST_F(ModuleFilesTest, CopyCheckModeWithDiffDoesNotWrite) {
  std::string dest = dir_ / "d";
  Spit(dest, "a\nb\n");
  // ansible (check_mode + diff): {"changed": true, "diff": [{"after": "a\nc\n", "after_header":
  //  ..., "before": "a\nb\n", "before_header": "/tmp/ora/t/d"}]}
  Json r = RunModule("copy", {{"content", "a\nc\n"},
                              {"dest", dest},
                              {"_ansible_check_mode", true},
                              {"_ansible_diff", true}});
  EXPECT_THAT(Keys(r), UnorderedElementsAre("changed", "diff"));
  EXPECT_EQ(r["diff"][0]["before"], "a\nb\n");
  EXPECT_EQ(r["diff"][0]["after"], "a\nc\n");
  EXPECT_EQ(r["diff"][0]["before_header"], dest);
  EXPECT_EQ(Slurp(dest), "a\nb\n");
}

TEST_F(ModuleFilesTest, CopyBackupForceAndDirectories) {
  std::string dest = dir_ / "a";
  Spit(dest, "old");
  Json r = RunModule("copy", {{"content", "new"}, {"dest", dest}, {"backup", true}});
  ASSERT_TRUE(r.contains("backup_file"));
  // ansible: "backup_file": "/tmp/ora/t/a.2539.2026-11-29@02:07:17~"
  EXPECT_THAT(r["backup_file"].get<std::string>(),
              MatchesRegex(dest + "\\.[0-9]+\\.[0-9]{4}-[0-9]{2}-[0-9]{2}@[0-9:]{8}~"));
  EXPECT_EQ(Slurp(r["backup_file"]), "old");
  // ansible (force=no on an existing file): {"changed": false, "dest": ..., "src": ...}
  Json keep = RunModule("copy", {{"content", "other"}, {"dest", dest}, {"force", false}});
  EXPECT_EQ(keep["changed"], false);
  EXPECT_EQ(Slurp(dest), "new");
  // ansible: {"changed": false, "msg": "can not use content with a dir as dest"}
  EXPECT_EQ(RunModule("copy", {{"content", "z"}, {"dest", dir_.path() + "/"}})["msg"],
            "can not use content with a dir as dest");
  // ansible: "Destination directory /tmp/ora/t/nodir does not exist"
  EXPECT_EQ(RunModule("copy", {{"content", "z"}, {"dest", dir_ / "nodir/x"}})["msg"],
            "Destination directory " + (dir_ / "nodir") + " does not exist");
  // A controller-side src into a directory (existing, or to be created for a trailing '/').
  Json into = RunModule("copy", {{"_tachyon_content_b64", absl::Base64Escape("body")},
                                 {"_tachyon_src_name", "f.txt"},
                                 {"dest", dir_.path()}});
  EXPECT_EQ(into["dest"], dir_ / "f.txt");
  EXPECT_EQ(Slurp(dir_ / "f.txt"), "body");
  Json created = RunModule("copy", {{"_tachyon_content_b64", absl::Base64Escape("b2")},
                                    {"_tachyon_src_name", "g.txt"},
                                    {"dest", dir_ / "sub/"}});
  EXPECT_EQ(created["dest"], dir_ / "sub/g.txt");
  EXPECT_EQ(Slurp(dir_ / "sub/g.txt"), "b2");
}

TEST_F(ModuleFilesTest, CopyRemoteSrcAndValidate) {
  Spit(dir_ / "src", "payload");
  Json r = RunModule("copy", {{"src", dir_ / "src"}, {"remote_src", true}, {"dest", dir_ / "dst"}});
  EXPECT_EQ(r["changed"], true);
  EXPECT_EQ(Slurp(dir_ / "dst"), "payload");
  Json bad = RunModule("copy", {{"content", "x"}, {"dest", dir_ / "v"}, {"validate", "false %s"}});
  EXPECT_EQ(bad["failed"], true);
  EXPECT_EQ(bad["msg"], "failed to validate");
  EXPECT_FALSE(PathExists(dir_ / "v"));
  Json good =
      RunModule("copy", {{"content", "x"}, {"dest", dir_ / "v"}, {"validate", "test -f %s"}});
  EXPECT_EQ(good["changed"], true);
}

TEST_F(ModuleFilesTest, CopyBadOwnerFails) {
  Json r = RunModule("copy",
                     {{"content", "x"}, {"dest", dir_ / "o"}, {"owner", "no-such-user-tachyon"}});
  EXPECT_EQ(r["failed"], true);
  EXPECT_EQ(r["msg"], "chown failed: failed to look up user no-such-user-tachyon");
}

// ---- file ----

TEST_F(ModuleFilesTest, FileValidation) {
  // ansible: "missing required arguments: path"
  EXPECT_EQ(ValidateMessage("file", {{"state", "directory"}}), "missing required arguments: path");
  EXPECT_EQ(ValidateMessage("file", {{"path", "/x"}, {"state", "nope"}}),
            "value of state must be one of: absent, directory, file, hard, link, touch, got: nope");
  EXPECT_EQ(ValidateMessage("file", {{"path", "/x"}, {"dest", "/y"}}),
            "parameters are mutually exclusive: path|dest");
  EXPECT_THAT(ValidateMessage("file", {{"path", "/x"}, {"bogus", 1}}),
              HasSubstr("Supported parameters include: _diff_peek, _original_basename, "
                        "access_time, access_time_format, attributes (attr), follow, force, "
                        "group, mode, modification_time, modification_time_format, owner, path "
                        "(dest, name), recurse,"));
  EXPECT_EQ(ValidateMessage("file", {{"name", "/x"}, {"state", "directory"}}), "");
}

TEST_F(ModuleFilesTest, FileDirectoryLikeAnsible) {
  std::string d = dir_ / "d";
  // ansible: file path=/tmp/ora/t/d state=directory mode=0755 -> {"changed": true, "gid": 0,
  //  "group": "root", "mode": "0755", "owner": "root", "path": ..., "size": 4096,
  //  "state": "directory", "uid": 0}; the second run the same with changed false.
  // The json callback also shows "diff": {"after": {"path", "state": "directory"},
  //  "before": {"path", "state": "absent"}} (in and out of diff mode).
  Json r = RunModule("file", {{"path", d}, {"state", "directory"}, {"mode", "0755"}});
  EXPECT_THAT(Keys(r), UnorderedElementsAre("changed", "diff", "gid", "group", "mode", "owner",
                                            "path", "size", "state", "uid"));
  EXPECT_EQ(r["diff"], (Json{{"before", {{"path", d}, {"state", "absent"}}},
                             {"after", {{"path", d}, {"state", "directory"}}}}));
  EXPECT_EQ(r["changed"], true);
  EXPECT_EQ(r["state"], "directory");
  EXPECT_EQ(r["mode"], "0755");
  EXPECT_EQ(RunModule("file", {{"path", d}, {"state", "directory"}, {"mode", "0755"}})["changed"],
            false);
  // Nested, created with each component.
  Json nested = RunModule("file", {{"path", d + "/x/y"}, {"state", "directory"}, {"mode", "0700"}});
  EXPECT_EQ(nested["changed"], true);
  EXPECT_EQ(ModeOf(d + "/x"), 0700u);
  EXPECT_EQ(ModeOf(d + "/x/y"), 0700u);
  // Check mode for a missing directory does nothing.
  Json check = RunModule(
      "file", {{"path", d + "/z"}, {"state", "directory"}, {"_ansible_check_mode", true}});
  EXPECT_EQ(check["changed"], true);
  EXPECT_FALSE(PathExists(d + "/z"));
  // recurse
  Spit(d + "/x/y/f", "");
  Json rec = RunModule(
      "file", {{"path", d}, {"state", "directory"}, {"recurse", true}, {"mode", "u=rwX,g=rX,o="}});
  EXPECT_EQ(rec["changed"], true);
  EXPECT_EQ(ModeOf(d + "/x/y/f"), 0640u);
  EXPECT_EQ(ModeOf(d + "/x/y"), 0750u);
  EXPECT_EQ(RunModule("file", {{"path", d},
                               {"state", "directory"},
                               {"recurse", true},
                               {"mode", "u=rwX,g=rX,o="}})["changed"],
            false);
}

TEST_F(ModuleFilesTest, FileStatesLikeAnsible) {
  std::string f = dir_ / "f";
  // ansible: file state=touch -> {"changed": true, "dest": ..., "gid", "group", "mode": "0644",
  //  "owner", "size": 0, "state": "file", "uid"}
  //  + "diff" (json callback): before {path, state: absent, atime, mtime}, after {path,
  //  state: touch, atime, mtime}
  Json t = RunModule("file", {{"path", f}, {"state", "touch"}});
  EXPECT_THAT(Keys(t), UnorderedElementsAre("changed", "dest", "diff", "gid", "group", "mode",
                                            "owner", "size", "state", "uid"));
  EXPECT_EQ(t["diff"]["before"]["state"], "absent");
  EXPECT_EQ(t["diff"]["after"]["state"], "touch");
  EXPECT_TRUE(t["diff"]["after"]["mtime"].is_number_float());
  EXPECT_TRUE(t["diff"]["before"]["atime"].is_number_float());
  EXPECT_EQ(t["mode"], "0644");
  // ansible: file state=file mode=u+x -> changed true, "mode": "0744"
  Json x = RunModule("file", {{"path", f}, {"state", "file"}, {"mode", "u+x"}});
  EXPECT_EQ(x["changed"], true);
  EXPECT_EQ(x["mode"], "0744");
  EXPECT_EQ(x["path"], f);
  EXPECT_EQ(RunModule("file", {{"path", f}, {"state", "file"}, {"mode", "u+x"}})["changed"], false);
  // ansible -C: file state=file mode=0600 -> changed true, "mode": "0744" (nothing done)
  Json c = RunModule("file", {{"path", f}, {"mode", "0600"}, {"_ansible_check_mode", true}});
  EXPECT_EQ(c["changed"], true);
  EXPECT_EQ(c["mode"], "0744");
  EXPECT_EQ(ModeOf(f), 0744u);
  // ansible: {"changed": false, "msg": "file (/tmp/ora/t/nope) is absent, cannot continue",
  //  "path": ..., "state": "absent"}
  Json nope = RunModule("file", {{"path", dir_ / "nope"}, {"state", "file"}});
  EXPECT_EQ(nope, (Json{{"changed", false},
                        {"failed", true},
                        {"msg", "file (" + (dir_ / "nope") + ") is absent, cannot continue"},
                        {"path", dir_ / "nope"},
                        {"state", "absent"}}));
  // ansible: "file (/tmp/ora/t/x) is directory, cannot continue"
  EXPECT_EQ(RunModule("file", {{"path", dir_.path()}, {"state", "file"}})["msg"],
            "file (" + dir_.path() + ") is directory, cannot continue");
  // ansible: mode=0999 -> "msg": "mode must be in octal or symbolic form",
  //  "details": "bad symbolic permission for mode: 0999"
  Json bad = RunModule("file", {{"path", f}, {"mode", "0999"}});
  EXPECT_EQ(bad["msg"], "mode must be in octal or symbolic form");
  EXPECT_EQ(bad["details"], "bad symbolic permission for mode: 0999");
  // ansible: absent -> {"changed": true, "path", "state": "absent", "diff": {"after": {"path",
  //  "state": "absent"}, "before": {"path", "state": "file"}}}, then changed false, no diff
  EXPECT_EQ(RunModule("file", {{"path", f}, {"state", "absent"}}),
            (Json{{"changed", true},
                  {"path", f},
                  {"state", "absent"},
                  {"diff",
                   {{"before", {{"path", f}, {"state", "file"}}},
                    {"after", {{"path", f}, {"state", "absent"}}}}}}));
  EXPECT_EQ(RunModule("file", {{"path", f}, {"state", "absent"}}),
            (Json{{"changed", false}, {"path", f}, {"state", "absent"}}));
  EXPECT_FALSE(PathExists(f));
  // A tree goes too.
  Spit(dir_ / "tree/a/b", "x");
  EXPECT_EQ(RunModule("file", {{"path", dir_ / "tree"}, {"state", "absent"}})["changed"], true);
  EXPECT_FALSE(PathExists(dir_ / "tree"));
}

TEST_F(ModuleFilesTest, FileLinks) {
  std::string f = dir_ / "f";
  std::string l = dir_ / "l";
  Spit(f, "");
  // ansible: state=link -> {"changed": true, "dest": l, "gid", "group", "mode": "0777", "owner",
  //  "size": 12, "src": f, "state": "link", "uid"}; second run changed false.
  Json r = RunModule("file", {{"path", l}, {"src", f}, {"state", "link"}});
  EXPECT_THAT(Keys(r), UnorderedElementsAre("changed", "dest", "diff", "gid", "group", "mode",
                                            "owner", "size", "src", "state", "uid"));
  EXPECT_EQ(r["changed"], true);
  EXPECT_EQ(r["state"], "link");
  EXPECT_EQ(r["mode"], "0777");
  EXPECT_EQ(r["size"], f.size());
  EXPECT_EQ(RunModule("file", {{"path", l}, {"src", f}, {"state", "link"}})["changed"], false);
  // Retargeting replaces the link.
  Spit(dir_ / "g", "");
  EXPECT_EQ(RunModule("file", {{"path", l}, {"src", dir_ / "g"}, {"state", "link"}})["changed"],
            true);
  char buf[4096];
  ssize_t n = readlink(l.c_str(), buf, sizeof(buf));
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0), dir_ / "g");
  // A file is not replaced without force.
  EXPECT_EQ(RunModule("file", {{"path", f}, {"src", dir_ / "g"}, {"state", "link"}})["msg"],
            "refusing to convert from file to symlink for " + f);
  EXPECT_THAT(
      RunModule("file", {{"path", dir_ / "m"}, {"src", dir_ / "none"}, {"state", "link"}})["msg"]
          .get<std::string>(),
      HasSubstr("src file does not exist"));
  // Hard links: ansible -> "state": "hard", "src": f.
  Json h = RunModule("file", {{"path", dir_ / "h"}, {"src", f}, {"state", "hard"}});
  EXPECT_EQ(h["changed"], true);
  EXPECT_EQ(h["state"], "hard");
  EXPECT_EQ(h["src"], f);
  EXPECT_EQ(RunModule("file", {{"path", dir_ / "h"}, {"src", f}, {"state", "hard"}})["changed"],
            false);
  // Check mode creates nothing.
  Json c = RunModule(
      "file",
      {{"path", dir_ / "cl"}, {"src", f}, {"state", "link"}, {"_ansible_check_mode", true}});
  EXPECT_EQ(c["changed"], true);
  EXPECT_FALSE(PathExists(dir_ / "cl"));
}

// Expected diffs from ansible-playbook 2.14 with ANSIBLE_STDOUT_CALLBACK=json (ad-hoc -o drops
// the diff key), the same without and with --diff.
TEST_F(ModuleFilesTest, FileDiffAlwaysReturned) {
  std::string d = dir_ / "d";
  // state=directory (exists) -> {"after": {"path"}, "before": {"path"}}
  ASSERT_EQ(::mkdir(d.c_str(), 0755), 0);
  EXPECT_EQ(RunModule("file", {{"path", d}, {"state", "directory"}})["diff"],
            (Json{{"before", {{"path", d}}}, {"after", {{"path", d}}}}));
  // mode change on a directory -> {"after": {"mode": "0700", "path"}, "before": {"mode":
  //  "0755", "path"}}
  EXPECT_EQ(RunModule("file", {{"path", d}, {"mode", "0700"}})["diff"],
            (Json{{"before", {{"path", d}, {"mode", "0755"}}},
                  {"after", {{"path", d}, {"mode", "0700"}}}}));
  // A new directory with a mode: before has the mode the new directory got (0755), after the
  // requested one: {"after": {"mode": "0700", "path", "state": "directory"}, "before":
  //  {"mode": "0755", "path", "state": "absent"}}
  std::string d2 = dir_ / "d2";
  EXPECT_EQ(RunModule("file", {{"path", d2}, {"state", "directory"}, {"mode", "0700"}})["diff"],
            (Json{{"before", {{"path", d2}, {"state", "absent"}, {"mode", "0755"}}},
                  {"after", {{"path", d2}, {"state", "directory"}, {"mode", "0700"}}}}));
  // state=file mode=0600 -> {"after": {"mode": "0600", "path"}, "before": {"mode": "0644",
  //  "path"}}
  std::string f = dir_ / "f";
  Spit(f, "");
  EXPECT_EQ(RunModule("file", {{"path", f}, {"state", "file"}, {"mode", "0600"}})["diff"],
            (Json{{"before", {{"path", f}, {"mode", "0644"}}},
                  {"after", {{"path", f}, {"mode", "0600"}}}}));
  // link: created {"after": {"path", "state": "link"}, "before": {"path", "state": "absent"}},
  // again {"after": {"path"}, "before": {"path"}}, retargeted {"after": {"path", "src": new},
  // "before": {"path", "src": old}}
  std::string l = dir_ / "l";
  EXPECT_EQ(RunModule("file", {{"path", l}, {"src", f}, {"state", "link"}})["diff"],
            (Json{{"before", {{"path", l}, {"state", "absent"}}},
                  {"after", {{"path", l}, {"state", "link"}}}}));
  EXPECT_EQ(RunModule("file", {{"path", l}, {"src", f}, {"state", "link"}})["diff"],
            (Json{{"before", {{"path", l}}}, {"after", {{"path", l}}}}));
  EXPECT_EQ(RunModule("file", {{"path", l}, {"src", d}, {"state", "link"}})["diff"],
            (Json{{"before", {{"path", l}, {"src", f}}}, {"after", {{"path", l}, {"src", d}}}}));
  // hard: {"after": {"path", "state": "hard"}, "before": {"path", "state": "absent"}}; then the
  // source, now with two links, is "hard": absent -> {"after": {"path", "state": "absent"},
  // "before": {"path", "state": "hard"}}
  std::string h = dir_ / "h";
  EXPECT_EQ(RunModule("file", {{"path", h}, {"src", f}, {"state", "hard"}})["diff"],
            (Json{{"before", {{"path", h}, {"state", "absent"}}},
                  {"after", {{"path", h}, {"state", "hard"}}}}));
  EXPECT_EQ(RunModule("file", {{"path", f}, {"state", "absent"}})["diff"],
            (Json{{"before", {{"path", f}, {"state", "hard"}}},
                  {"after", {{"path", f}, {"state", "absent"}}}}));
  // A directory removed lists what it held: "before": {"path", "path_content": {"directories":
  // [D/x, D/x/y], "files": []}, "state": "directory"}
  std::string t = dir_ / "t";
  ASSERT_EQ(::mkdir(t.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((t + "/x").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((t + "/x/y").c_str(), 0755), 0);
  Spit(t + "/x/y/z", "");
  EXPECT_EQ(RunModule("file", {{"path", t}, {"state", "absent"}})["diff"],
            (Json{{"before",
                   {{"path", t},
                    {"state", "directory"},
                    {"path_content",
                     {{"directories", {t + "/x", t + "/x/y"}}, {"files", {t + "/x/y/z"}}}}}},
                  {"after", {{"path", t}, {"state", "absent"}}}}));
  // Failures have no diff: file (F) is absent, cannot continue
  EXPECT_FALSE(RunModule("file", {{"path", dir_ / "none"}, {"state", "file"}}).contains("diff"));
}

// ansible-playbook (check_mode: true, json callback):
//  file path=W/dir state=directory -> {"changed": true, "diff": {"after": {"path",
//   "state": "directory"}, "before": {"path", "state": "absent"}}, "path"} (no state)
//  file path=W/f state=absent -> {"changed": true, "diff": {... "before": {"path", "state":
//   "file"}}, "gid", "group", "mode": "0644", "owner", "path", "size": 4, "state": "file", "uid"}
//  lineinfile path=W/new line=x create=true -> {"backup": "", "changed": true, "diff":
//   {"after": "", "after_header": "W/new (content)", "before": "", "before_header": ...},
//   "msg": "line added"}   (a dict; for an existing file it is the usual two-item list)
TEST_F(ModuleFilesTest, CheckModeResultsLikeAnsible) {
  std::string dir = dir_ / "dir";
  EXPECT_EQ(RunModule("file", {{"path", dir}, {"state", "directory"}, {"_ansible_check_mode", true}}),
            (Json{{"changed", true},
                  {"path", dir},
                  {"diff",
                   {{"before", {{"path", dir}, {"state", "absent"}}},
                    {"after", {{"path", dir}, {"state", "directory"}}}}}}));
  std::string f = dir_ / "f";
  Spit(f, "abc\n");
  Json rm = RunModule("file", {{"path", f}, {"state", "absent"}, {"_ansible_check_mode", true}});
  EXPECT_THAT(Keys(rm), UnorderedElementsAre("changed", "diff", "gid", "group", "mode", "owner",
                                             "path", "size", "state", "uid"));
  EXPECT_EQ(rm["state"], "file");
  EXPECT_EQ(rm["size"], 4);
  EXPECT_TRUE(PathExists(f));
  std::string n = dir_ / "new";
  EXPECT_EQ(RunModule("lineinfile", {{"path", n}, {"line", "x"}, {"create", true},
                                     {"_ansible_check_mode", true}}),
            (Json{{"backup", ""},
                  {"changed", true},
                  {"msg", "line added"},
                  {"diff",
                   {{"before", ""},
                    {"after", ""},
                    {"before_header", n + " (content)"},
                    {"after_header", n + " (content)"}}}}));
  EXPECT_TRUE(RunModule("lineinfile", {{"path", f}, {"line", "x"}, {"_ansible_check_mode", true}})
                  ["diff"].is_array());
}

TEST_F(ModuleFilesTest, CopyDiffOutOfDiffMode) {
  std::string dest = dir_ / "c";
  // copy content=a dest=C -> "diff": [] ; same content -> the file module's {"after": {"path"},
  // "before": {"path"}}; new content with mode 0600 -> "diff": []
  EXPECT_EQ(RunModule("copy", {{"content", "a\n"}, {"dest", dest}})["diff"], Json::array());
  EXPECT_EQ(RunModule("copy", {{"content", "b\n"}, {"dest", dest}, {"mode", "0600"}})["diff"],
            Json::array());
  // check mode (ansible -C): {"changed": true, "diff": []}
  EXPECT_EQ(RunModule("copy", {{"content", "c\n"}, {"dest", dest}, {"_ansible_check_mode", true}}),
            (Json{{"changed", true}, {"diff", Json::array()}}));
}

TEST(FileUtilTest, SymbolicModes) {
  EXPECT_EQ(*ResolveMode("u+x", S_IFREG | 0644), 0744u);
  EXPECT_EQ(*ResolveMode("go-r", S_IFREG | 0644), 0600u);
  EXPECT_EQ(*ResolveMode("a=rX", S_IFDIR | 0700), 0555u);
  EXPECT_EQ(*ResolveMode("a=rX", S_IFREG | 0600), 0444u);
  EXPECT_EQ(*ResolveMode("u=rwx,g=rx,o=", S_IFREG | 0), 0750u);
  EXPECT_EQ(*ResolveMode("g=u", S_IFREG | 0640), 0660u);
  EXPECT_EQ(*ResolveMode("u+s,o+t", S_IFREG | 0755), 05755u);
  EXPECT_EQ(*ResolveMode("0644", S_IFREG), 0644u);
  EXPECT_EQ(*ResolveMode("755", S_IFREG), 0755u);
  EXPECT_EQ(*ResolveMode(Json(420), S_IFREG), 0644u);  // YAML 0644 arrives as 420
  EXPECT_FALSE(ResolveMode("0999", S_IFREG).ok());
  EXPECT_FALSE(ResolveMode("u*x", S_IFREG).ok());
}

// ---- stat ----

bool HaveFileProgram() {
  CommandOutput r = RunCommand({"file", "--version"});
  return r.exec_errno == 0 && r.rc == 0;
}

// The lsattr -vd line for `path` (Ansible's source for version/attr_flags), or "" when lsattr
// fails or is not installed.
std::string Lsattr(const std::string& path) {
  CommandOutput r = RunCommand({"lsattr", "-vd", path});
  return r.exec_errno == 0 && r.rc == 0 ? r.stdout_data : "";
}

TEST_F(ModuleFilesTest, StatMimeAndAttributes) {
  std::string f = dir_ / "f";
  Spit(f, "hello\n");
  // ansible (ext4, file 5.x): stat path=F -> "attr_flags": "e", "attributes": ["extents"],
  //  "charset": "us-ascii", "mimetype": "text/plain", "version": "3359409985" (a string: the
  //  first word of `lsattr -vd F`); for /tmp: "attr_flags": "Ie", "attributes": ["indexed",
  //  "extents"], "charset": "binary", "mimetype": "inode/directory"; for /proc/self/status
  //  (no flags there): "attr_flags": "", "attributes": [], "version": null, "mimetype":
  //  "inode/x-empty", "charset": "binary".
  Json s = RunModule("stat", {{"path", f}})["stat"];
  if (HaveFileProgram()) {
    EXPECT_EQ(s["mimetype"], "text/plain");
    EXPECT_EQ(s["charset"], "us-ascii");
    Json d = RunModule("stat", {{"path", dir_.path()}})["stat"];
    EXPECT_EQ(d["mimetype"], "inode/directory");
    EXPECT_EQ(d["charset"], "binary");
  } else {
    EXPECT_EQ(s["mimetype"], "unknown");
    EXPECT_EQ(s["charset"], "unknown");
  }
  std::string line = Lsattr(f);
  if (!line.empty()) {
    // "3359409985 --------------e------- F": the version, then the flags without the dashes.
    std::string version = line.substr(0, line.find(' '));
    std::string rest = std::string(absl::StripLeadingAsciiWhitespace(line.substr(version.size())));
    std::string flags;
    for (char c : rest.substr(0, rest.find(' '))) {
      if (c != '-') flags.push_back(c);
    }
    EXPECT_EQ(s["version"], version);
    EXPECT_EQ(s["attr_flags"], flags);
    EXPECT_TRUE(s["attributes"].is_array());
    if (flags == "e") {
      EXPECT_EQ(s["attributes"], Json::array({"extents"}));
    }
  } else {
    EXPECT_EQ(s["version"], nullptr);
    EXPECT_EQ(s["attr_flags"], "");
    EXPECT_EQ(s["attributes"], Json::array());
  }
  Json proc = RunModule("stat", {{"path", "/proc/self/status"}})["stat"];
  EXPECT_EQ(proc["version"], nullptr);
  EXPECT_EQ(proc["attr_flags"], "");
  EXPECT_EQ(proc["attributes"], Json::array());
  // get_mime=false / get_attributes=false leave the keys out.
  Json bare = RunModule("stat", {{"path", f}, {"get_mime", false}, {"get_attributes", false}});
  for (const char* key : {"mimetype", "charset", "version", "attr_flags", "attributes"}) {
    EXPECT_FALSE(bare["stat"].contains(key)) << key;
  }
}

TEST_F(ModuleFilesTest, StatLikeAnsible) {
  std::string f = dir_ / "f";
  Spit(f, "hello\n");
  ASSERT_EQ(symlink("f", (dir_ / "l").c_str()), 0);
  // ansible: stat path=/tmp/ora/t/f -> "checksum": "f572d396fae9206628714fb2ce00f72e94f2258f",
  //  "mode": "0644", "isreg": true, "size": 6, "nlink": 1, "pw_name": "root", ...
  Json r = RunModule("stat", {{"path", f}});
  EXPECT_EQ(r["changed"], false);
  const Json& s = r["stat"];
  EXPECT_EQ(s["exists"], true);
  EXPECT_EQ(s["checksum"], "f572d396fae9206628714fb2ce00f72e94f2258f");
  EXPECT_EQ(s["mode"], "0644");
  EXPECT_EQ(s["isreg"], true);
  EXPECT_EQ(s["isdir"], false);
  EXPECT_EQ(s["size"], 6);
  EXPECT_EQ(s["nlink"], 1);
  EXPECT_EQ(s["path"], f);
  EXPECT_EQ(s["rusr"], true);
  EXPECT_EQ(s["xusr"], false);
  EXPECT_EQ(s["readable"], true);
  EXPECT_TRUE(s["mtime"].is_number_float());
  for (const char* key : {"atime", "ctime", "dev", "inode", "uid", "gid", "pw_name", "gr_name",
                          "blocks", "block_size", "writeable", "executable", "isuid", "isgid"}) {
    EXPECT_TRUE(s.contains(key)) << key;
  }
  // ansible (checksum_algorithm=sha256):
  //  "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
  EXPECT_EQ(RunModule("stat", {{"path", f}, {"checksum_algorithm", "sha256"}})["stat"]["checksum"],
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
  // ansible: a link -> "islnk": true, "lnk_target": "f", "lnk_source": realpath, "mode": "0777"
  Json l = RunModule("stat", {{"path", dir_ / "l"}})["stat"];
  EXPECT_EQ(l["islnk"], true);
  EXPECT_EQ(l["lnk_target"], "f");
  EXPECT_EQ(l["mode"], "0777");
  EXPECT_FALSE(l.contains("checksum"));
  Json followed = RunModule("stat", {{"path", dir_ / "l"}, {"follow", true}})["stat"];
  EXPECT_EQ(followed["islnk"], false);
  EXPECT_EQ(followed["isreg"], true);
  EXPECT_EQ(l["attr_flags"], "");  // lsattr does not read symlinks
  EXPECT_EQ(l["attributes"], Json::array());
  EXPECT_EQ(l["version"], nullptr);
  EXPECT_EQ(l["mimetype"], HaveFileProgram() ? "inode/symlink" : "unknown");
  // ansible: {"changed": false, "stat": {"exists": false}}
  EXPECT_EQ(RunModule("stat", {{"path", dir_ / "none"}}),
            (Json{{"changed", false}, {"stat", {{"exists", false}}}}));
  EXPECT_EQ(ValidateMessage("stat", Json::object()), "missing required arguments: path");
  EXPECT_EQ(ValidateMessage("stat", {{"path", f}, {"checksum_algorithm", "crc"}}),
            "value of checksum_algorithm must be one of: md5, sha1, sha224, sha256, sha384, "
            "sha512, got: crc");
}

// ---- lineinfile ----

TEST_F(ModuleFilesTest, LineInFileLikeAnsible) {
  std::string f = dir_ / "f";
  Spit(f, "a=1\nb=2\n");
  // The sequence run against ansible 2.14, result by result (see the comment on each).
  // line=c=3 -> {"backup": "", "changed": true, "msg": "line added", "diff": [{"after": "",
  //  "after_header": "F (content)", "before": "", "before_header": "F (content)"},
  //  {"after_header": "F (file attributes)", "before_header": "F (file attributes)"}]}
  // (the diff is there out of diff mode too, with empty contents: json callback)
  const Json no_diff = Json::array(
      {{{"before", ""},
        {"after", ""},
        {"before_header", f + " (content)"},
        {"after_header", f + " (content)"}},
       {{"before_header", f + " (file attributes)"}, {"after_header", f + " (file attributes)"}}});
  EXPECT_EQ(RunModule("lineinfile", {{"path", f}, {"line", "c=3"}}),
            (Json{{"backup", ""}, {"changed", true}, {"msg", "line added"}, {"diff", no_diff}}));
  // again -> {"backup": "", "changed": false, "msg": "", "diff": (the same)}
  EXPECT_EQ(RunModule("lineinfile", {{"path", f}, {"line", "c=3"}}),
            (Json{{"backup", ""}, {"changed", false}, {"msg", ""}, {"diff", no_diff}}));
  // regexp=^a= line=a=9 -> "line replaced"
  EXPECT_EQ(RunModule("lineinfile", {{"path", f}, {"regexp", "^a="}, {"line", "a=9"}})["msg"],
            "line replaced");
  // regexp=^b= state=absent backup=yes -> {"backup": "...~", "changed": true, "found": 1,
  //  "msg": "1 line(s) removed"}
  Json rm = RunModule("lineinfile",
                      {{"path", f}, {"regexp", "^b="}, {"state", "absent"}, {"backup", true}});
  EXPECT_EQ(rm["found"], 1);
  EXPECT_EQ(rm["msg"], "1 line(s) removed");
  EXPECT_EQ(Slurp(rm["backup"]), "a=9\nb=2\nc=3\n");
  // again -> {"backup": "", "changed": false, "found": 0, "msg": ""}
  EXPECT_EQ(RunModule("lineinfile", {{"path", f}, {"regexp", "^b="}, {"state", "absent"}}),
            (Json{{"backup", ""}, {"changed", false}, {"found", 0}, {"msg", ""}, {"diff", no_diff}}));
  // line=first insertbefore=BOF -> "line added"
  RunModule("lineinfile", {{"path", f}, {"line", "first"}, {"insertbefore", "BOF"}});
  // regexp=^(a)=(.*) line=\1:\2 backrefs=yes -> "line replaced"
  EXPECT_EQ(
      RunModule(
          "lineinfile",
          {{"path", f}, {"regexp", "^(a)=(.*)"}, {"line", "\\1:\\2"}, {"backrefs", true}})["msg"],
      "line replaced");
  // regexp=^zz line=zz backrefs=yes -> unchanged
  EXPECT_EQ(
      RunModule("lineinfile",
                {{"path", f}, {"regexp", "^zz"}, {"line", "zz"}, {"backrefs", true}})["changed"],
      false);
  // -C line=zz -> changed, nothing written
  EXPECT_EQ(RunModule("lineinfile",
                      {{"path", f}, {"line", "zz"}, {"_ansible_check_mode", true}})["changed"],
            true);
  // line=after-a insertafter=^a, then search_string=c=3 line=m -> "line replaced"
  RunModule("lineinfile", {{"path", f}, {"line", "after-a"}, {"insertafter", "^a"}});
  EXPECT_EQ(RunModule("lineinfile", {{"path", f}, {"line", "m"}, {"search_string", "c=3"}})["msg"],
            "line replaced");
  // The file ansible left: first, a:9, after-a, m
  EXPECT_EQ(Slurp(f), "first\na:9\nafter-a\nm\n");
}

TEST_F(ModuleFilesTest, LineInFileErrorsAndCreate) {
  std::string f = dir_ / "f";
  Spit(f, "x\n");
  // ansible: {"changed": false, "msg": "Destination /tmp/ora/t/new does not exist !", "rc": 257}
  EXPECT_EQ(RunModule("lineinfile", {{"path", dir_ / "new"}, {"line", "x"}}),
            (Json{{"changed", false},
                  {"failed", true},
                  {"msg", "Destination " + (dir_ / "new") + " does not exist !"},
                  {"rc", 257}}));
  Json created =
      RunModule("lineinfile",
                {{"path", dir_ / "sub/new"}, {"line", "x"}, {"create", true}, {"mode", "0600"}});
  EXPECT_EQ(created["changed"], true);
  EXPECT_EQ(Slurp(dir_ / "sub/new"), "x\n");
  EXPECT_EQ(ModeOf(dir_ / "sub/new"), 0600u);
  EXPECT_EQ(RunModule("lineinfile", {{"path", f}, {"state", "absent"}})["msg"],
            "one of line, search_string, or regexp is required with state=absent");
  EXPECT_EQ(RunModule("lineinfile", {{"path", f}})["msg"], "line is required with state=present");
  EXPECT_EQ(ValidateMessage("lineinfile", {{"line", "x"}}), "missing required arguments: path");
  EXPECT_EQ(ValidateMessage("lineinfile",
                            {{"path", f}, {"line", "m"}, {"search_string", "c"}, {"regexp", "x"}}),
            "parameters are mutually exclusive: regexp|search_string");
  EXPECT_THAT(ValidateMessage("lineinfile", {{"path", f}, {"line", "m"}, {"regexp", "(x"}}),
              HasSubstr("invalid regular expression"));
  // Mode only: "ownership, perms or SE linux context changed"
  Json m = RunModule("lineinfile", {{"path", f}, {"line", "x"}, {"mode", "0600"}});
  EXPECT_EQ(m["changed"], true);
  EXPECT_EQ(m["msg"], "ownership, perms or SE linux context changed");
  // Diff mode
  Json d = RunModule("lineinfile", {{"path", f}, {"line", "y"}, {"_ansible_diff", true}});
  EXPECT_EQ(d["diff"][0]["before"], "x\n");
  EXPECT_EQ(d["diff"][0]["after"], "x\ny\n");
  EXPECT_EQ(d["diff"][0]["before_header"], f + " (content)");
  // ansible (--diff, mode 0644 -> 0600 with a new line): the attributes diff has the modes:
  //  {"after": {"mode": "0600"}, "after_header": "F (file attributes)", "before": {"mode":
  //  "0644"}, "before_header": "F (file attributes)"}
  Json dm = RunModule("lineinfile", {{"path", f}, {"line", "w"}, {"mode", "0644"}});
  EXPECT_EQ(dm["diff"][1], (Json{{"before", {{"mode", "0600"}}},
                                 {"after", {{"mode", "0644"}}},
                                 {"before_header", f + " (file attributes)"},
                                 {"after_header", f + " (file attributes)"}}));
  EXPECT_EQ(dm["diff"][0]["before"], "");  // not in diff mode
  RunModule("lineinfile", {{"path", f}, {"line", "w"}, {"state", "absent"}});
  // Python's $ also matches before the line's "\n"; named groups work with backrefs.
  EXPECT_EQ(
      RunModule(
          "lineinfile",
          {{"path", f}, {"regexp", "^(?P<k>y)$"}, {"line", "\\g<k>=1"}, {"backrefs", true}})["msg"],
      "line replaced");
  EXPECT_EQ(Slurp(f), "x\ny=1\n");
  // Through a symlink the target is edited and the link stays.
  ASSERT_EQ(symlink(f.c_str(), (dir_ / "link").c_str()), 0);
  EXPECT_EQ(RunModule("lineinfile", {{"path", dir_ / "link"}, {"line", "z"}})["changed"], true);
  EXPECT_EQ(Slurp(f), "x\ny=1\nz\n");
  struct stat st;
  ASSERT_EQ(lstat((dir_ / "link").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
}

}  // namespace
}  // namespace tachyon::modules
