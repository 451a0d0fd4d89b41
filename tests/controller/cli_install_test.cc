// `tachyon agents install` without ssh: inventory hosts and their connection variables, the
// ssh/scp argv, shell quoting, the agent.yaml it writes, and the bounded child runner.

#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "absl/time/clock.h"
#include "controller/cli/install.h"
#include "controller/cli/ssh.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tachyon::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class InstallHostsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char templ[] = "/tmp/cli_install_test.XXXXXX";
    ASSERT_NE(::mkdtemp(templ), nullptr);
    dir_ = templ;
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  std::string dir_;
};

TEST_F(InstallHostsTest, ReadsAnsibleConnectionVariables) {
  std::string inv = Write("hosts.ini",
                          "[web]\n"
                          "web01 ansible_host=10.0.0.11\n"
                          "web02 ansible_host=10.0.0.12 ansible_port=2222 ansible_user=deploy\n"
                          "[db]\n"
                          "db01 ansible_ssh_host=10.0.0.21 ansible_ssh_user=admin\n"
                          "[db:vars]\n"
                          "ansible_ssh_private_key_file=/keys/db\n");
  InstallOptions o;
  o.inventories = {inv};
  o.pattern = "all";
  o.ssh_options = {"StrictHostKeyChecking=accept-new"};
  auto hosts = ResolveInstallHosts(o);
  ASSERT_TRUE(hosts.ok()) << hosts.status();
  ASSERT_EQ(hosts->size(), 3u);
  const InstallHost& web01 = (*hosts)[0];
  EXPECT_EQ(web01.name, "web01");
  EXPECT_EQ(web01.ssh.host, "10.0.0.11");
  EXPECT_EQ(web01.ssh.port, 0);
  EXPECT_EQ(web01.ssh.user, "");
  EXPECT_THAT(web01.groups, ElementsAre("web"));
  EXPECT_THAT(web01.ssh.options, ElementsAre("StrictHostKeyChecking=accept-new"));
  const InstallHost& web02 = (*hosts)[1];
  EXPECT_EQ(web02.ssh.port, 2222);
  EXPECT_EQ(web02.ssh.user, "deploy");
  const InstallHost& db01 = (*hosts)[2];
  EXPECT_EQ(db01.ssh.host, "10.0.0.21");
  EXPECT_EQ(db01.ssh.user, "admin");
  EXPECT_EQ(db01.ssh.identity, "/keys/db");

  // --ssh-key wins over the inventory's key; patterns as Ansible's.
  o.ssh_key = "/keys/mine";
  o.pattern = "web02,db";
  hosts = ResolveInstallHosts(o);
  ASSERT_TRUE(hosts.ok()) << hosts.status();
  ASSERT_EQ(hosts->size(), 2u);
  EXPECT_EQ((*hosts)[0].name, "web02");
  EXPECT_EQ((*hosts)[1].ssh.identity, "/keys/mine");
}

TEST_F(InstallHostsTest, NameWithoutAnsibleHostIsTheAddress) {
  std::string inv = Write("hosts.yml", "all:\n  hosts:\n    box.example.com:\n");
  InstallOptions o;
  o.inventories = {inv};
  o.pattern = "box*";
  auto hosts = ResolveInstallHosts(o);
  ASSERT_TRUE(hosts.ok()) << hosts.status();
  ASSERT_EQ(hosts->size(), 1u);
  EXPECT_EQ((*hosts)[0].ssh.host, "box.example.com");
  EXPECT_TRUE((*hosts)[0].groups.empty());
}

TEST_F(InstallHostsTest, BadPortAndBadInventoryAreErrors) {
  InstallOptions o;
  o.pattern = "all";
  o.inventories = {Write("bad_port.ini", "web01 ansible_port=ssh\n")};
  auto hosts = ResolveInstallHosts(o);
  ASSERT_FALSE(hosts.ok());
  EXPECT_THAT(std::string(hosts.status().message()), HasSubstr("ansible_port"));
  o.inventories = {dir_ + "/missing.ini"};
  EXPECT_FALSE(ResolveInstallHosts(o).ok());
}

TEST(SshArgvTest, BatchModeAndTheTargetsOptions) {
  SshTarget t;
  t.host = "10.0.0.5";
  t.port = 2222;
  t.user = "deploy";
  t.identity = "/k";
  t.options = {"UserKnownHostsFile=/kh"};
  EXPECT_THAT(SshArgv(t, "true"),
              ElementsAre("ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-i", "/k", "-o",
                          "UserKnownHostsFile=/kh", "-p", "2222", "-l", "deploy", "-T", "--",
                          "10.0.0.5", "true"));
  EXPECT_THAT(ScpArgv(t, "/a.deb", "/tmp/x/a.deb"),
              ElementsAre("scp", "-q", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-i", "/k",
                          "-o", "UserKnownHostsFile=/kh", "-P", "2222", "--", "/a.deb",
                          "deploy@10.0.0.5:/tmp/x/a.deb"));
  t = SshTarget();
  t.host = "::1";
  EXPECT_EQ(ScpArgv(t, "/a", "/b").back(), "[::1]:/b");
}

TEST(ShellQuoteTest, RoundTripsThroughSh) {
  for (std::string s : {"plain", "with space", "it's", "$(rm -rf /)", "a\nb", "", "'\"`\\"}) {
    CommandResult r =
        RunCommand({"sh", "-c", "printf '%s' " + ShellQuote(s)}, "", absl::Seconds(10));
    ASSERT_TRUE(r.started) << r.start_error;
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.out, s);
  }
}

TEST(RunCommandTest, StdinOutputExitCodeAndTimeout) {
  CommandResult r =
      RunCommand({"sh", "-c", "cat; echo err >&2; exit 7"}, "hello\n", absl::Seconds(10));
  EXPECT_EQ(r.out, "hello\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_FALSE(r.timed_out);

  // The deadline kills the whole process group, grandchildren holding the pipes included.
  absl::Time start = absl::Now();
  r = RunCommand({"sh", "-c", "sleep 30 & sleep 30"}, "", absl::Milliseconds(300));
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.exit_code, 128 + 9);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));

  r = RunCommand({"/nonexistent/program"}, "", absl::Seconds(1));
  EXPECT_FALSE(r.started);
  EXPECT_THAT(r.start_error, HasSubstr("/nonexistent/program"));
}

TEST(SshErrorLineTest, SkipsWarnings) {
  EXPECT_EQ(SshErrorLine("Warning: Permanently added 'x' (ED25519) to the list of known hosts.\n"
                         "root@x: Permission denied (publickey).\n"),
            "root@x: Permission denied (publickey).");
  EXPECT_EQ(SshErrorLine(""), "ssh failed without a message");
}

TEST(AgentConfigYamlTest, QuotedValuesAndGroups) {
  InstallHost h;
  h.name = "web01";
  h.groups = {"web", "eu"};
  EXPECT_EQ(AgentConfigYaml(h, "ctl.example.com:7443", "/var/lib/tachyon-agent"),
            "# Written by `tachyon agents install` for web01. Every key is a tachyon-agent "
            "flag.\n"
            "controller: \"ctl.example.com:7443\"\n"
            "state-dir: \"/var/lib/tachyon-agent\"\n"
            "log-format: text\n"
            "group:\n"
            "  - \"web\"\n"
            "  - \"eu\"\n");
}

}  // namespace
}  // namespace tachyon::cli
