// apt, dnf, yum and package against fake package managers (small scripts first in PATH that
// keep their "installed" packages as files), and the host-wide package lock through the real
// job engine and shim: two package jobs started together never run their package manager at
// the same time.

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "agent/jobs/job_engine.h"
#include "agent/modules/module.h"
#include "tests/agent/module_test_util.h"

namespace tachyon::modules {
namespace {

using ::testing::HasSubstr;
using testing::RunModule;
using testing::Slurp;
using testing::Spit;
using testing::TempDir;
using testing::ValidateMessage;
using Json = nlohmann::json;

// dpkg-query -W -f=${Status} NAME: "install ok installed" when DB/NAME exists.
constexpr char kFakeDpkgQuery[] = R"(#!/bin/sh
for last; do :; done
if [ -e "$FAKE_DB/$last" ]; then printf 'install ok installed'; exit 0; fi
echo "dpkg-query: no packages found matching $last" >&2; exit 1
)";

// apt-get: logs its argv; install/remove/purge change DB; -s simulates (no upgrades);
// a package named "broken" fails; GATE (a fifo), when set, is read before anything happens.
constexpr char kFakeAptGet[] = R"(#!/bin/sh
echo "apt-get $*" >> "$FAKE_LOG"
if [ -n "$FAKE_RUNNING" ]; then
  mkdir "$FAKE_RUNNING" 2>/dev/null || echo overlap >> "$FAKE_LOG.overlap"
  : > "$FAKE_STARTED.$$"
  read line < "$FAKE_GATE"
  rmdir "$FAKE_RUNNING"
fi
op=""; for a; do case "$a" in install|remove|purge|update) op="$a";; esac; done
case " $* " in *" -s "*) exit 0;; esac
for a; do
  case "$a" in -*|install|remove|purge|update|Dpkg*) continue;; esac
  [ "$a" = broken ] && { echo "E: Unable to locate package broken" >&2; exit 100; }
  case "$op" in install) : > "$FAKE_DB/${a%%=*}";; remove|purge) rm -f "$FAKE_DB/$a";; esac
done
echo "done $op"
)";

constexpr char kFakeRpm[] = R"(#!/bin/sh
for last; do :; done
[ -e "$FAKE_DB/$last" ] && { echo "$last-1.0"; exit 0; }
echo "package $last is not installed"; exit 1
)";

constexpr char kFakeDnf[] = R"(#!/bin/sh
echo "dnf $*" >> "$FAKE_LOG"
op=""; for a; do case "$a" in install|remove|check-update) op="$a";; esac; done
[ "$op" = check-update ] && exit 0
for a; do
  case "$a" in -*|install|remove) continue;; esac
  case "$op" in install) : > "$FAKE_DB/$a";; remove) rm -f "$FAKE_DB/$a";; esac
done
)";

class PackageModuleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bin_ = dir_ / "bin";
    db_ = dir_ / "db";
    ASSERT_TRUE(MakeDirs(db_).ok());
    Spit(bin_ + "/dpkg-query", kFakeDpkgQuery, 0755);
    Spit(bin_ + "/apt-get", kFakeAptGet, 0755);
    Spit(bin_ + "/rpm", kFakeRpm, 0755);
    Spit(bin_ + "/dnf", kFakeDnf, 0755);
    old_path_ = getenv("PATH");
    setenv("PATH", (bin_ + ":/usr/bin:/bin").c_str(), 1);
    setenv("FAKE_DB", db_.c_str(), 1);
    setenv("FAKE_LOG", (dir_ / "log").c_str(), 1);
  }
  void TearDown() override {
    setenv("PATH", old_path_.c_str(), 1);
    for (const char* v : {"FAKE_DB", "FAKE_LOG", "DEBIAN_FRONTEND"}) unsetenv(v);
  }
  std::string Log() { return ReadFile(dir_ / "log").value_or(""); }

  TempDir dir_;
  std::string bin_, db_, old_path_;
};

TEST_F(PackageModuleTest, AptInstallIsIdempotent) {
  Json r = RunModule("apt", {{"name", Json::array({"nginx", "curl"})}, {"state", "present"}});
  EXPECT_EQ(r["changed"], true);
  EXPECT_EQ(r["stdout"], "done install\n");
  EXPECT_EQ(r["stdout_lines"], Json{"done install"});
  EXPECT_EQ(r["cache_updated"], false);
  EXPECT_FALSE(r.contains("failed"));
  EXPECT_THAT(Log(), HasSubstr("apt-get -q -y -o Dpkg::Options::=--force-confdef -o "
                               "Dpkg::Options::=--force-confold install nginx curl\n"));
  EXPECT_TRUE(PathExists(db_ + "/nginx"));
  // Second run: nothing to do, apt-get not started again (dpkg-query said installed).
  std::string before = Log();
  // ansible (apt, package already installed): {"cache_update_time": ..., "cache_updated": false,
  //  "changed": false}
  EXPECT_EQ(RunModule("apt", {{"name", "nginx,curl"}}),
            (Json{{"changed", false}, {"cache_updated", false}, {"cache_update_time", 0}}));
  EXPECT_EQ(Log(), before);
  // Only the missing one is installed.
  RunModule("apt", {{"name", Json::array({"nginx", "jq"})}});
  EXPECT_THAT(Log(), HasSubstr("install jq\n"));
}

TEST_F(PackageModuleTest, AptRemoveCheckModeUpdateCacheAndFailure) {
  Spit(db_ + "/vim", "");
  Json check =
      RunModule("apt", {{"name", "vim"}, {"state", "absent"}, {"_ansible_check_mode", true}});
  EXPECT_EQ(check["changed"], true);
  EXPECT_TRUE(PathExists(db_ + "/vim"));
  EXPECT_EQ(Log(), "");
  Json rm = RunModule("apt", {{"name", "vim"}, {"state", "absent"}, {"purge", true}});
  EXPECT_EQ(rm["changed"], true);
  EXPECT_THAT(Log(), HasSubstr(" purge vim\n"));
  EXPECT_FALSE(PathExists(db_ + "/vim"));
  EXPECT_EQ(RunModule("apt", {{"name", "vim"}, {"state", "absent"}})["changed"], false);
  Json update = RunModule("apt", {{"update_cache", true}});
  EXPECT_EQ(update["cache_updated"], true);
  EXPECT_EQ(update["changed"], true);
  EXPECT_THAT(Log(), HasSubstr("apt-get update -q\n"));
  Json broken = RunModule("apt", {{"name", "broken"}});
  EXPECT_EQ(broken["failed"], true);
  EXPECT_EQ(broken["rc"], 100);
  // ansible: "'/usr/bin/apt-get -y ... install broken' failed: E: Unable to locate package ..."
  EXPECT_THAT(broken["msg"].get<std::string>(),
              HasSubstr("install broken' failed: E: Unable to locate package broken"));
}

TEST_F(PackageModuleTest, PackagePicksAptAndDnfHasResults) {
  Json r = RunModule("package", {{"name", "htop"}});
  EXPECT_EQ(r["changed"], true);
  EXPECT_THAT(Log(), HasSubstr("apt-get -q -y"));
  Json d = RunModule("dnf", {{"name", Json::array({"httpd"})}, {"state", "installed"}});
  EXPECT_EQ(d["changed"], true);
  EXPECT_EQ(d["results"], Json{"Installed: httpd"});
  EXPECT_EQ(d["rc"], 0);
  EXPECT_THAT(Log(), HasSubstr("dnf -y install httpd\n"));
  EXPECT_EQ(RunModule("dnf", {{"name", "httpd"}})["changed"], false);
  Json rm = RunModule("dnf", {{"name", "httpd"}, {"state", "removed"}});
  EXPECT_EQ(rm["results"], Json{"Removed: httpd"});
  EXPECT_EQ(ValidateMessage("package", {{"state", "present"}}), "missing required arguments: name");
  EXPECT_EQ(
      ValidateMessage("apt", {{"name", "x"}, {"state", "gone"}}),
      "value of state must be one of: absent, installed, latest, present, removed, got: gone");
  EXPECT_THAT(ValidateMessage("yum", {{"name", "x"}, {"purge", true}}),
              HasSubstr("Unsupported parameters for (yum) module: purge."));
}

// The lock, through the job engine and the real shim.
TEST_F(PackageModuleTest, PackageJobsNeverOverlap) {
  std::string gate = dir_ / "gate";
  ASSERT_EQ(mkfifo(gate.c_str(), 0600), 0);
  std::string spool = dir_ / "state/jobs";
  ASSERT_TRUE(MakeDirs(spool).ok());
  absl::Mutex mu;
  std::map<std::string, Json> finished;
  jobs::JobEngine::Options options;
  options.spool_dir = spool;
  options.shim_command = {TACHYON_TEST_SHIM};
  options.use_cgroup = false;
  auto engine = jobs::JobEngine::Create(options, [&](const jobs::JobEvent& e) {
    if (e.kind != jobs::JobEvent::Kind::kFinished) return;
    absl::MutexLock lock(&mu);
    finished[e.jid] = e.result;
  });
  ASSERT_TRUE(engine.ok()) << engine.status();
  for (const char* jid : {"p1", "p2"}) {
    jobs::JobSpec spec;
    spec.jid = jid;
    spec.module = "apt";
    spec.args = {{"name", absl::StrCat("pkg-", jid)}};
    spec.env = {{"PATH", bin_ + ":/usr/bin:/bin"},  {"FAKE_DB", db_},
                {"FAKE_LOG", dir_ / "log"},         {"FAKE_RUNNING", dir_ / "running"},
                {"FAKE_STARTED", dir_ / "started"}, {"FAKE_GATE", gate}};
    ASSERT_TRUE((*engine)->Submit(spec).ok());
  }
  // One apt-get runs (it waits at the gate); the other job's shim must be blocked on the lock
  // file, which /proc/locks shows as a waiter ("->"). Bounded, and no sleeping: each check
  // reads /proc and yields.
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  struct stat lock_st;
  bool waiting = false;
  while (!waiting && absl::Now() < deadline) {
    if (::stat((dir_ / "state/locks/package.lock").c_str(), &lock_st) == 0) {
      // /proc/locks names the file by MAJOR:MINOR:INODE.
      std::string inode = absl::StrCat(":", lock_st.st_ino, " ");
      std::string text = ReadFile("/proc/locks").value_or("");
      waiting = absl::StrContains(text, "-> FLOCK") && absl::StrContains(text, inode);
    }
    if (!waiting) sched_yield();
  }
  ASSERT_TRUE(waiting) << "the second package job never waited for the lock";
  EXPECT_EQ(lock_st.st_mode & 07777, 0600u);
  // Let them through one at a time: each write of the gate releases the one apt-get running.
  // The second write waits until the second apt-get has started (which, with the lock, is only
  // after the first one exited and closed the fifo: a write into a fifo still held open by the
  // first reader would be lost with it).
  for (size_t i = 0; i < 2; ++i) {
    auto started = [&] {
      std::string log = Log();
      size_t n = 0;
      for (size_t at = log.find("apt-get "); at != std::string::npos;
           at = log.find("apt-get ", at + 1)) {
        ++n;
      }
      return n > i;
    };
    while (!started() && absl::Now() < deadline) sched_yield();
    ASSERT_TRUE(started()) << Log();
    int fd = open(gate.c_str(), O_WRONLY | O_CLOEXEC);  // blocks until an apt-get reads
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, "go\n", 3), 3);
    close(fd);
  }
  {
    absl::MutexLock lock(&mu);
    auto both = [&] { return finished.size() == 2; };
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&both), absl::Seconds(30)))
        << Log() << Slurp(spool + "/p1/status.json") << Slurp(spool + "/p2/status.json")
        << Slurp(spool + "/p1/shim.log") << Slurp(spool + "/p2/shim.log");
    for (const auto& [jid, result] : finished) {
      EXPECT_EQ(result["changed"], true) << jid << result.dump();
      EXPECT_EQ(result.value("failed", false), false) << jid << result.dump();
    }
  }
  EXPECT_FALSE(PathExists(dir_ / "log.overlap")) << Slurp(dir_ / "log.overlap");
  EXPECT_TRUE(PathExists(db_ + "/pkg-p1"));
  EXPECT_TRUE(PathExists(db_ + "/pkg-p2"));
}

}  // namespace
}  // namespace tachyon::modules
