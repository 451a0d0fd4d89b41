#include "controller/rollout/controller_files.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>
#include <string>

namespace tachyon::rollout {
namespace {

constexpr char kTail[] =
    " on the Ansible Controller.\nIf you are using a module and expect the file to exist on the "
    "remote, see the remote_src option";

class ControllerFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/controller_files_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    for (const char* d : {"/files", "/roles", "/roles/r1", "/roles/r1/tasks", "/roles/r1/files"}) {
      ASSERT_EQ(::mkdir((base_ + d).c_str(), 0755), 0);
    }
  }
  void TearDown() override { std::system(("rm -rf '" + base_ + "'").c_str()); }
  std::string base_;
};

// Expected messages from ansible-playbook 2.14 (ANSIBLE_STDOUT_CALLBACK=json ansible-playbook
// -c local -i localhost, site.yml, with `copy: {src: no-such-file.txt, ...}` in the play and
// `copy: {src: nope.txt}` / `template: {src: nope.j2}` in roles/r1/tasks/main.yml).
TEST_F(ControllerFilesTest, PlayTaskListsEachDirectoryTwice) {
  auto search = ControllerSearchPath("files", nullptr, base_ + "/site.yml", base_);
  auto r = FindControllerFile("no-such-file.txt", search, base_);
  ASSERT_TRUE(absl::IsNotFound(r.status()));
  EXPECT_EQ(r.status().message(),
            "Could not find or access 'no-such-file.txt'\nSearched in:\n\t" + base_ +
                "/files/no-such-file.txt\n\t" + base_ + "/no-such-file.txt\n\t" + base_ +
                "/files/no-such-file.txt\n\t" + base_ + "/no-such-file.txt" + kTail);
}

TEST_F(ControllerFilesTest, SubdirPrefixIsStillSearchedUnderSubdir) {
  // src: files/nope.txt -> ".../files/files/nope.txt\n\t.../files/nope.txt" twice
  auto search = ControllerSearchPath("files", nullptr, base_ + "/site.yml", base_);
  auto r = FindControllerFile("files/nope.txt", search, base_);
  EXPECT_EQ(r.status().message(), "Could not find or access 'files/nope.txt'\nSearched in:\n\t" +
                                      base_ + "/files/files/nope.txt\n\t" + base_ +
                                      "/files/nope.txt\n\t" + base_ + "/files/files/nope.txt\n\t" +
                                      base_ + "/files/nope.txt" + kTail);
}

TEST_F(ControllerFilesTest, RoleTask) {
  Role role;
  role.path = base_ + "/roles/r1";
  auto search = ControllerSearchPath("templates", &role, role.path + "/tasks/main.yml", base_);
  auto r = FindControllerFile("nope.j2", search, base_);
  const std::string r1 = base_ + "/roles/r1";
  EXPECT_EQ(r.status().message(),
            "Could not find or access 'nope.j2'\nSearched in:\n\t" + r1 + "/templates/nope.j2\n\t" +
                r1 + "/nope.j2\n\t" + r1 + "/tasks/templates/nope.j2\n\t" + r1 +
                "/tasks/nope.j2\n\t" + base_ + "/templates/nope.j2\n\t" + base_ + "/nope.j2" +
                kTail);
}

TEST_F(ControllerFilesTest, AbsoluteNameHasNoSearchList) {
  auto r = FindControllerFile("/nonexistent/abs.txt", {base_}, "");
  EXPECT_EQ(r.status().message(), std::string("Could not find or access '/nonexistent/abs.txt'") +
                                      kTail);
}

TEST_F(ControllerFilesTest, FindsInOrder) {
  std::ofstream(base_ + "/roles/r1/files/a.txt") << "role";
  std::ofstream(base_ + "/files/a.txt") << "play";
  Role role;
  role.path = base_ + "/roles/r1";
  auto in_role = ControllerSearchPath("files", &role, role.path + "/tasks/main.yml", base_);
  EXPECT_EQ(*FindControllerFile("a.txt", in_role, base_), base_ + "/roles/r1/files/a.txt");
  auto in_play = ControllerSearchPath("files", nullptr, base_ + "/site.yml", base_);
  EXPECT_EQ(*FindControllerFile("a.txt", in_play, base_), base_ + "/files/a.txt");
}

}  // namespace
}  // namespace tachyon::rollout
