// setup and wait_for. wait_for's ports are listeners this test opens on 127.0.0.1 port 0;
// nothing leaves loopback. Expected results marked "ansible:" come from ansible-core 2.14.

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "agent/modules/module.h"
#include "tests/agent/module_test_util.h"

namespace tachyon::modules {
namespace {

using testing::RunModule;
using testing::Spit;
using testing::TempDir;
using ::testing::UnorderedElementsAre;
using testing::ValidateMessage;
using Json = nlohmann::json;

TEST(SetupModuleTest, FactsAndFilter) {
  Json r = RunModule("setup", Json::object());
  EXPECT_EQ(r["changed"], false);
  const Json& f = r["ansible_facts"];
  for (const char* key :
       {"ansible_hostname", "ansible_fqdn", "ansible_os_family", "ansible_distribution",
        "ansible_distribution_version", "ansible_distribution_major_version",
        "ansible_architecture", "ansible_processor_vcpus", "ansible_memtotal_mb",
        "ansible_default_ipv4", "ansible_env", "ansible_user_id", "ansible_pkg_mgr",
        "ansible_service_mgr", "ansible_kernel", "ansible_system"}) {
    EXPECT_TRUE(f.contains(key)) << key;
  }
  EXPECT_EQ(f["ansible_user_id"], getpwuid(getuid())->pw_name);
  EXPECT_EQ(f["ansible_system"], "Linux");
  EXPECT_GT(f["ansible_processor_vcpus"].get<int>(), 0);
  EXPECT_EQ(f["ansible_env"]["PATH"], getenv("PATH"));
  // ansible: setup filter=ansible_user_id,ansible_system -> only those two facts
  Json filtered = RunModule("setup", {{"filter", "ansible_user_id,ansible_sys*"}});
  std::vector<std::string> keys;
  for (const auto& [k, v] : filtered["ansible_facts"].items()) keys.push_back(k);
  EXPECT_THAT(keys, UnorderedElementsAre("ansible_user_id", "ansible_system"));
  EXPECT_EQ(RunModule("setup", {{"filter", Json::array({"ansible_user_uid"})}})["ansible_facts"],
            (Json{{"ansible_user_uid", getuid()}}));
  EXPECT_EQ(ValidateMessage("setup", {{"gather_timeout", "x"}}),
            "argument 'gather_timeout' is of type <class 'str'> and we were unable to convert to "
            "int: \"x\"");
}

// A listening socket on 127.0.0.1, port chosen by the kernel.
class Listener {
 public:
  Listener() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(fd_, 16), 0);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~Listener() { Close(); }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  int fd() const { return fd_; }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(WaitForModuleTest, PortStartedAndStopped) {
  Listener listener;
  // ansible: wait_for port=N (listening) -> {"changed": false, "elapsed": 0,
  //  "match_groupdict": {}, "match_groups": [], "path": null, "port": N,
  //  "search_regex": null, "state": "started"}
  Json r = RunModule("wait_for", {{"port", listener.port()}, {"timeout", 30}});
  EXPECT_EQ(r, (Json{{"changed", false},
                     {"elapsed", 0},
                     {"match_groupdict", Json::object()},
                     {"match_groups", Json::array()},
                     {"path", nullptr},
                     {"port", listener.port()},
                     {"search_regex", nullptr},
                     {"state", "started"}}));
  int port = listener.port();
  listener.Close();
  // ansible: wait_for port=1 state=stopped -> success, "state": "stopped"
  Json stopped = RunModule("wait_for", {{"port", port}, {"state", "stopped"}, {"timeout", 30}});
  EXPECT_EQ(stopped["state"], "stopped");
  EXPECT_FALSE(stopped.contains("failed"));
  // ansible: wait_for port=1 timeout=1 -> {"changed": false, "elapsed": 1,
  //  "msg": "Timeout when waiting for 127.0.0.1:1"}; timeout 0 fails at once the same way.
  EXPECT_EQ(RunModule("wait_for", {{"port", port}, {"timeout", 0}}),
            (Json{{"changed", false},
                  {"failed", true},
                  {"elapsed", 0},
                  {"msg", absl::StrCat("Timeout when waiting for 127.0.0.1:", port)}}));
  EXPECT_EQ(RunModule("wait_for", {{"port", port}, {"timeout", 0}, {"msg", "custom"}})["msg"],
            "custom");
}

TEST(WaitForModuleTest, PortSearchRegex) {
  Listener listener;
  std::thread server([&] {
    int c = accept4(listener.fd(), nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return;
    const char greeting[] = "hello\nSSH-2.0-OpenSSH_9.2\n";
    (void)!write(c, greeting, sizeof(greeting) - 1);
    char buf[16];
    (void)!read(c, buf, sizeof(buf));  // until the client closes
    close(c);
  });
  Json r = RunModule(
      "wait_for",
      {{"port", listener.port()}, {"search_regex", "^SSH-(?P<v>[0-9.]+)-(\\w+)"}, {"timeout", 30}});
  server.join();
  EXPECT_EQ(r["match_groups"], (Json{"2.0", "OpenSSH_9"}));
  EXPECT_EQ(r["match_groupdict"], (Json{{"v", "2.0"}}));
  EXPECT_EQ(r["search_regex"], "^SSH-(?P<v>[0-9.]+)-(\\w+)");
}

TEST(WaitForModuleTest, Paths) {
  TempDir dir;
  std::string f = dir / "f";
  Spit(f, "#!/bin/sh\necho \"args: $@\"\n");
  // ansible: wait_for path=F search_regex=(?P<w>ar)gs -> {"changed": false, "elapsed": 0,
  //  "gid", "group", "match_groupdict": {"w": "ar"}, "match_groups": ["ar"], "mode": "0644",
  //  "owner", "path": F, "port": null, "search_regex": "(?P<w>ar)gs", "size", "state": "file",
  //  "uid"}
  Json r = RunModule("wait_for", {{"path", f}, {"search_regex", "(?P<w>ar)gs"}});
  EXPECT_EQ(r["match_groups"], Json{"ar"});
  EXPECT_EQ(r["match_groupdict"], (Json{{"w", "ar"}}));
  EXPECT_EQ(r["state"], "file");
  EXPECT_EQ(r["mode"], "0644");
  EXPECT_EQ(r["path"], f);
  EXPECT_EQ(r["port"], nullptr);
  // ansible: state=absent on a missing path -> {"changed": false, "elapsed": 0,
  //  "match_groupdict": {}, "match_groups": [], "path": P, "port": null, "search_regex": null,
  //  "state": "absent"}
  EXPECT_EQ(RunModule("wait_for", {{"path", dir / "none"}, {"state", "absent"}}),
            (Json{{"changed", false},
                  {"elapsed", 0},
                  {"match_groupdict", Json::object()},
                  {"match_groups", Json::array()},
                  {"path", dir / "none"},
                  {"port", nullptr},
                  {"search_regex", nullptr},
                  {"state", "absent"}}));
  // ansible: "Timeout when waiting for file /tmp/ora/nonexist", and "... to be absent."
  EXPECT_EQ(RunModule("wait_for", {{"path", dir / "none"}, {"timeout", 0}})["msg"],
            "Timeout when waiting for file " + (dir / "none"));
  EXPECT_EQ(RunModule("wait_for", {{"path", f}, {"state", "absent"}, {"timeout", 0}})["msg"],
            "Timeout when waiting for " + f + " to be absent.");
  // A file that appears while the module waits: inotify wakes it well before `sleep`.
  std::string later = dir / "later";
  std::thread writer([&] { Spit(later, "ready\n"); });
  Json appeared = RunModule(
      "wait_for", {{"path", later}, {"search_regex", "ready"}, {"sleep", 60}, {"timeout", 120}});
  writer.join();
  EXPECT_EQ(appeared["elapsed"], 0);
  EXPECT_FALSE(appeared.contains("failed"));
}

TEST(WaitForModuleTest, Validation) {
  EXPECT_EQ(ValidateMessage("wait_for", {{"port", 1}, {"path", "/x"}}),
            "port and path parameter can not both be passed to wait_for");
  EXPECT_EQ(ValidateMessage("wait_for", {{"path", "/x"}, {"state", "stopped"}}),
            "state=stopped should only be used for checking a port in the wait_for module");
  EXPECT_EQ(ValidateMessage("wait_for", {{"port", "http"}}),
            "argument 'port' is of type <class 'str'> and we were unable to convert to int: "
            "\"http\"");
  EXPECT_EQ(ValidateMessage("wait_for", {{"path", "/x"}, {"search_regex", "(x"}})
                .find("Invalid regular expression"),
            0u);
  // ansible: wait_for timeout=0 -> success, "state": "started", nothing to wait for.
  EXPECT_EQ(RunModule("wait_for", {{"timeout", 0}})["state"], "started");
}

}  // namespace
}  // namespace tachyon::modules
