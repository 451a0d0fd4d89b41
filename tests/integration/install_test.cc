// `tachyon agents install` end to end: an sshd started here on 127.0.0.1 (temp host key, temp
// authorized_keys, its own config; the machine's ssh setup is never read or touched), an
// inventory whose hosts all point at it, the tachyon-agent .deb that packaging.debs built, and
// --prefix so that every "host" is a directory under the test's temp dir. The agents must
// enroll and connect; a re-run must leave them alone; a dead host is reported unreachable.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "gtest/gtest.h"
#include "tests/integration/harness.h"

namespace tachyon::itest {
namespace {

namespace fs = std::filesystem;

// A port nothing listens on right now (bound, read, released).
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

std::string AgentDeb() {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(TACHYON_PACKAGES_DIR, ec)) {
    std::string name = e.path().filename().string();
    if (name.rfind("tachyon-agent_", 0) == 0 && e.path().extension() == ".deb") {
      return e.path().string();
    }
  }
  return "";
}

class InstallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    deb_ = AgentDeb();
    if (deb_.empty()) GTEST_SKIP() << "no tachyon-agent .deb in " << TACHYON_PACKAGES_DIR;
    if (::access("/usr/sbin/sshd", X_OK) != 0 || ::access("/usr/bin/ssh-keygen", X_OK) != 0) {
      GTEST_SKIP() << "openssh-server is not installed";
    }
    ASSERT_TRUE(cluster_.StartController());
    ssh_dir_ = cluster_.dir() + "/ssh";
    fs::create_directories(ssh_dir_);
    for (const char* key : {"host_ed25519", "id_ed25519"}) {
      auto keygen = Process::Start({{"/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                                     "tachyon-test", "-f", ssh_dir_ + "/" + key},
                                    {},
                                    ""});
      ASSERT_NE(keygen, nullptr);
      ASSERT_EQ(keygen->WaitExit(), 0) << keygen->StderrText();
    }
    fs::copy_file(ssh_dir_ + "/id_ed25519.pub", ssh_dir_ + "/authorized_keys");
    port_ = FreePort();
    ASSERT_GT(port_, 0);
    WriteText(ssh_dir_ + "/sshd_config",
              "ListenAddress 127.0.0.1\n"
              "Port " +
                  std::to_string(port_) +
                  "\n"
                  "HostKey " +
                  ssh_dir_ +
                  "/host_ed25519\n"
                  "PidFile " +
                  ssh_dir_ +
                  "/sshd.pid\n"
                  "AuthorizedKeysFile " +
                  ssh_dir_ +
                  "/authorized_keys\n"
                  // The test's files live under /tmp, which StrictModes would refuse.
                  "StrictModes no\n"
                  "UsePAM no\n"
                  "PasswordAuthentication no\n"
                  "KbdInteractiveAuthentication no\n"
                  "PubkeyAuthentication yes\n"
                  "PermitRootLogin prohibit-password\n"
                  "MaxStartups 50\n"
                  "Subsystem sftp internal-sftp\n");
    sshd_ =
        Process::Start({{"/usr/sbin/sshd", "-D", "-e", "-f", ssh_dir_ + "/sshd_config"}, {}, ""});
    ASSERT_NE(sshd_, nullptr);
    ASSERT_TRUE(sshd_->WaitStderr(Contains({"Server listening on 127.0.0.1"})))
        << sshd_->StderrText();

    struct passwd* pw = ::getpwuid(::getuid());
    ASSERT_NE(pw, nullptr);
    user_ = pw->pw_name;
    fleet_ = cluster_.dir() + "/fleet";
  }

  void TearDown() override {
    // The agents were started over ssh in their own sessions: stop them by their pid files.
    std::error_code ec;
    for (const auto& host : fs::directory_iterator(fleet_, ec)) {
      std::ifstream in(host.path() / "run/tachyon-agent.pid");
      pid_t pid = 0;
      if (in >> pid && pid > 1) ::kill(pid, SIGTERM);
    }
    if (sshd_) sshd_->Stop();
  }

  std::string Inventory(const std::vector<std::string>& hosts, int dead_port = 0) {
    std::string text = "[web]\n";
    for (const auto& h : hosts) {
      text += h + " ansible_host=127.0.0.1 ansible_port=" + std::to_string(port_) +
              " ansible_user=" + user_ + "\n";
    }
    if (dead_port > 0) {
      text += "[db]\ndown01 ansible_host=127.0.0.1 ansible_port=" + std::to_string(dead_port) +
              " ansible_user=" + user_ + "\n";
    }
    std::string path = cluster_.dir() + "/hosts.ini";
    WriteText(path, text);
    return path;
  }

  CliResult Install(const std::string& inventory, const std::string& pattern,
                    const std::string& key = "id_ed25519") {
    std::vector<std::string> args = {"agents",
                                     "install",
                                     pattern,
                                     "-i",
                                     inventory,
                                     "--package",
                                     deb_,
                                     "--prefix",
                                     fleet_,
                                     "--ssh-key",
                                     ssh_dir_ + "/" + key,
                                     "--ssh-option",
                                     "UserKnownHostsFile=" + ssh_dir_ + "/known_hosts",
                                     "--ssh-option",
                                     "StrictHostKeyChecking=accept-new",
                                     "--ssh-option",
                                     "IdentitiesOnly=yes",
                                     "-f",
                                     "3",
                                     "-o",
                                     "json",
                                     "--connect-timeout",
                                     "40"};
    return cluster_.Cli(args, {}, 110);
  }

  std::map<std::string, json> ByHost(const CliResult& r) {
    std::map<std::string, json> out;
    for (const json& j : r.JsonLines()) {
      if (j.contains("host")) out[j["host"].get<std::string>()] = j;
    }
    return out;
  }

  Cluster cluster_;
  std::unique_ptr<Process> sshd_;
  std::string deb_, ssh_dir_, user_, fleet_;
  int port_ = 0;
};

TEST_F(InstallTest, EnrollsHostsOverSshAndIsIdempotent) {
  int dead = FreePort();
  std::string inv = Inventory({"web01", "web02", "web03"}, dead);

  CliResult first = Install(inv, "all");
  // down01 is unreachable and nothing failed: ansible-playbook's 3.
  EXPECT_EQ(first.rc, 3) << first;
  auto hosts = ByHost(first);
  for (const char* h : {"web01", "web02", "web03"}) {
    ASSERT_TRUE(hosts.count(h)) << first;
    EXPECT_EQ(hosts[h]["status"], "changed") << hosts[h].dump();
    EXPECT_NE(hosts[h]["msg"].get<std::string>().find("enrolled"), std::string::npos);
    // Installed under the prefix, with the config the installer wrote.
    EXPECT_TRUE(fs::exists(fleet_ + "/" + h + "/usr/bin/tachyon-agent"));
    std::ifstream conf(fleet_ + "/" + h + "/etc/tachyon/agent.yaml");
    std::string text((std::istreambuf_iterator<char>(conf)), {});
    EXPECT_NE(text.find("controller: \"" + cluster_.address() + "\""), std::string::npos) << text;
    EXPECT_NE(text.find("- \"web\""), std::string::npos) << text;
  }
  ASSERT_TRUE(hosts.count("down01")) << first;
  EXPECT_EQ(hosts["down01"]["status"], "unreachable");
  EXPECT_NE(hosts["down01"]["msg"].get<std::string>().find("Connection refused"), std::string::npos)
      << hosts["down01"].dump();

  // The controller sees them connected, with the inventory's group.
  CliResult ls = cluster_.Cli({"agents", "ls", "-o", "json"});
  ASSERT_EQ(ls.rc, 0) << ls;
  std::set<std::string> connected;
  for (const json& a : ls.JsonLines()) {
    // The controller's own `localhost` is listed too; it is no agent of ours.
    if (a["state"] == "connected" && a["name"] != "localhost") {
      connected.insert(a["name"].get<std::string>());
    }
    if (a["name"] == "web01") {
      EXPECT_EQ(a["groups"], json::array({"web"})) << a.dump();
    }
  }
  EXPECT_EQ(connected, (std::set<std::string>{"web01", "web02", "web03"})) << ls;

  // They run jobs.
  CliResult ex = cluster_.Cli({"exec", "web", "-o", "json", "--", "true"});
  EXPECT_EQ(ex.rc, 0) << ex;

  // Again: nothing to do where the agent is already enrolled and connected.
  CliResult second = Install(inv, "web");
  EXPECT_EQ(second.rc, 0) << second;
  for (auto& [h, j] : ByHost(second)) {
    EXPECT_EQ(j["status"], "ok") << j.dump();
    EXPECT_EQ(j["msg"], "already enrolled and connected");
  }
}

TEST_F(InstallTest, ReportsFailuresPerHost) {
  std::string inv = Inventory({"web01"});
  // Not a package: refused before anything runs.
  std::string bogus = cluster_.dir() + "/bogus.deb";
  WriteText(bogus, "not a deb\n");
  CliResult bad =
      cluster_.Cli({"agents", "install", "all", "-i", inv, "--package", bogus, "--prefix", fleet_});
  EXPECT_EQ(bad.rc, 5) << bad;
  EXPECT_NE(bad.err.find("not a Debian package"), std::string::npos) << bad;

  // A key sshd does not know: ssh's own words, per host, as unreachable.
  auto keygen = Process::Start(
      {{"/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", ssh_dir_ + "/stranger"},
       {},
       ""});
  ASSERT_EQ(keygen->WaitExit(), 0);
  CliResult denied = Install(inv, "web01", "stranger");
  EXPECT_EQ(denied.rc, 3) << denied;
  auto hosts = ByHost(denied);
  ASSERT_TRUE(hosts.count("web01")) << denied;
  EXPECT_EQ(hosts["web01"]["status"], "unreachable");
  EXPECT_NE(hosts["web01"]["msg"].get<std::string>().find("Permission denied"), std::string::npos)
      << hosts["web01"].dump();

  // An unknown pattern matches nothing and changes nothing.
  CliResult none = Install(inv, "nosuchhost");
  EXPECT_EQ(none.rc, 0) << none;
}

}  // namespace
}  // namespace tachyon::itest
