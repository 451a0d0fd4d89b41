// The job engine with real processes: the real shim binary, real commands, real signals.
// Nothing sleeps to synchronise: tests wait for engine events (or inotify for files) with a
// generous bound.

#include "agent/jobs/job_engine.h"

#include <dirent.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "agent/jobs/process.h"
#include "common/fs.h"

namespace tachyon::jobs {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using Json = nlohmann::json;

constexpr absl::Duration kBound = absl::Seconds(30);

// Collects engine events; tests wait on it.
class EventLog {
 public:
  void Add(const JobEvent& e) {
    absl::MutexLock lock(&mu_);
    events_.push_back(e);
  }

  // The kind event for jid, waiting up to kBound; nullopt on timeout.
  std::optional<JobEvent> Wait(const std::string& jid, JobEvent::Kind kind) {
    absl::MutexLock lock(&mu_);
    const JobEvent* found = nullptr;
    auto pred = [&]() {
      for (const JobEvent& e : events_) {
        if (e.jid == jid && e.kind == kind) {
          found = &e;
          return true;
        }
      }
      return false;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&pred), kBound)) return std::nullopt;
    return *found;
  }

  // The first event matching `pred`, waiting up to kBound.
  std::optional<JobEvent> WaitFor(const std::function<bool(const JobEvent&)>& pred) {
    absl::MutexLock lock(&mu_);
    std::optional<JobEvent> found;
    auto cond = [&]() {
      for (const JobEvent& e : events_) {
        if (pred(e)) {
          found = e;
          return true;
        }
      }
      return false;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&cond), kBound)) return std::nullopt;
    return found;
  }

  // The live output of one stream of a job, checking that the chunks are contiguous.
  std::string Output(const std::string& jid, const std::string& stream) {
    absl::MutexLock lock(&mu_);
    std::string out;
    for (const JobEvent& e : events_) {
      if (e.jid != jid || e.kind != JobEvent::Kind::kOutput || e.stream != stream) continue;
      EXPECT_EQ(e.state, JobState::kRunning);
      EXPECT_LE(e.data.size(), 64u << 10);
      out += e.data;
    }
    return out;
  }

  // The first live output offset of a stream, or -1.
  int64_t FirstOffset(const std::string& jid, const std::string& stream) {
    absl::MutexLock lock(&mu_);
    for (const JobEvent& e : events_) {
      if (e.jid == jid && e.kind == JobEvent::Kind::kOutput && e.stream == stream) {
        return static_cast<int64_t>(e.offset);
      }
    }
    return -1;
  }

  int Count(const std::string& jid, JobEvent::Kind kind) {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (const JobEvent& e : events_) n += e.jid == jid && e.kind == kind;
    return n;
  }

  void Clear() {
    absl::MutexLock lock(&mu_);
    events_.clear();
  }

  std::vector<JobEvent> All() {
    absl::MutexLock lock(&mu_);
    return events_;
  }

  // Without the live output.
  std::vector<JobEvent> Lifecycle() {
    absl::MutexLock lock(&mu_);
    std::vector<JobEvent> out;
    for (const JobEvent& e : events_) {
      if (e.kind != JobEvent::Kind::kOutput) out.push_back(e);
    }
    return out;
  }

 private:
  absl::Mutex mu_;
  std::vector<JobEvent> events_ ABSL_GUARDED_BY(mu_);
};

// Waits (inotify, bounded) until `dir/name` exists.
bool WaitForFile(const std::string& dir, const std::string& name) {
  std::string path = dir + "/" + name;
  UniqueFd in(inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (!in.valid()) return false;
  if (inotify_add_watch(in.get(), dir.c_str(), IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
    return false;
  }
  absl::Time deadline = absl::Now() + kBound;
  while (!PathExists(path)) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    struct pollfd p = {in.get(), POLLIN, 0};
    poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    char buf[4096];
    while (read(in.get(), buf, sizeof(buf)) > 0) {
    }
  }
  return true;
}

// Waits (inotify, bounded) until `dir/name` no longer exists.
bool WaitForGone(const std::string& dir, const std::string& name) {
  std::string path = dir + "/" + name;
  UniqueFd in(inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (!in.valid()) return false;
  if (inotify_add_watch(in.get(), dir.c_str(), IN_DELETE | IN_MOVED_FROM) < 0) return false;
  absl::Time deadline = absl::Now() + kBound;
  while (PathExists(path)) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    struct pollfd p = {in.get(), POLLIN, 0};
    poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    char buf[4096];
    while (read(in.get(), buf, sizeof(buf)) > 0) {
    }
  }
  return true;
}

// Waits (pidfd, bounded) for a process that is not our child to exit.
bool WaitForExit(pid_t pid) {
  absl::StatusOr<UniqueFd> fd = PidfdOpen(pid);
  if (!fd.ok()) return true;  // already gone
  struct pollfd p = {fd->get(), POLLIN, 0};
  return poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(kBound))) == 1;
}

// True once `pid` has no /proc entry at all: it exited and was reaped (no zombie left).
bool ProcessReaped(pid_t pid) { return !PathExists(absl::StrCat("/proc/", pid)); }

// A "Name:  value kB" line of /proc/PID/status (or of a text holding one), in KiB; -1 if none.
int64_t StatusKiB(const std::string& text, const std::string& name) {
  size_t at = text.find(name + ":");
  if (at == std::string::npos) return -1;
  int64_t kib = -1;
  std::string rest = text.substr(at + name.size() + 1);
  rest = rest.substr(0, rest.find("kB"));
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(rest), &kib)) return -1;
  return kib;
}

// A file written by a test command may exist before its content is complete; a pid is
// written with one small write, then the process moves on, so read until it parses.
pid_t ReadPid(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  int pid = 0;
  if (!text.ok() || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &pid)) return -1;
  return pid;
}

// True if `pid` no longer runs (gone, or a zombie waiting for its reaper).
bool ProcessGone(pid_t pid) {
  absl::StatusOr<std::string> stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  if (!stat.ok()) return true;
  size_t paren = stat->rfind(')');
  return paren != std::string::npos && paren + 2 < stat->size() && (*stat)[paren + 2] == 'Z';
}

class JobEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tachyon-jobs-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    spool_ = root_ + "/spool";
    work_ = root_ + "/work";
    ASSERT_TRUE(MakeDirs(work_).ok());
    tiny_ = root_ + "/tiny";
    options_.spool_dir = spool_;
    options_.shim_command = {TACHYON_TEST_SHIM};
    options_.kill_grace = absl::Seconds(1);
  }

  void TearDown() override {
    engine_.reset();
    for (pid_t pid : strays_) kill(pid, SIGKILL);
    for (pid_t pid : strays_) WaitForExit(pid);
    // Cgroups that strays kept alive (they are outside the spool, so RemoveTree misses them).
    for (const std::string& spool : {spool_, tiny_ + "/spool"}) {
      DIR* dir = opendir(spool.c_str());
      if (dir == nullptr) continue;
      while (struct dirent* ent = readdir(dir)) {
        absl::StatusOr<std::string> cg = ReadFile(spool + "/" + ent->d_name + "/cgroup");
        if (cg.ok()) rmdir(std::string(absl::StripAsciiWhitespace(*cg)).c_str());
      }
      closedir(dir);
    }
    if (mounted_) umount2(tiny_.c_str(), MNT_DETACH);
    RemoveTree(root_).IgnoreError();
  }

  void StartEngine() {
    auto engine = JobEngine::Create(options_, [this](const JobEvent& e) { events_.Add(e); });
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
  }

  // Submits and waits for the result; fails the test if it does not come.
  Json Run(JobSpec spec, JobState* state = nullptr) {
    if (engine_ == nullptr) StartEngine();
    absl::Status st = engine_->Submit(spec);
    EXPECT_TRUE(st.ok()) << st;
    if (!st.ok()) return Json();
    std::optional<JobEvent> e = events_.Wait(spec.jid, JobEvent::Kind::kFinished);
    EXPECT_TRUE(e.has_value()) << "no result for " << spec.jid;
    if (!e) return Json();
    if (state) *state = e->state;
    return e->result;
  }

  static JobSpec Spec(std::string jid, std::string module, Json args, int64_t timeout = 0) {
    JobSpec spec;
    spec.jid = std::move(jid);
    spec.module = std::move(module);
    spec.args = std::move(args);
    spec.timeout_seconds = timeout;
    return spec;
  }

  std::string JobDir(const std::string& jid) { return spool_ + "/" + jid; }

  std::string root_, spool_, work_;
  std::string tiny_;  // a small tmpfs, for the full disk test
  bool mounted_ = false;
  JobEngine::Options options_;
  EventLog events_;
  std::unique_ptr<JobEngine> engine_;
  std::vector<pid_t> strays_;
};

// gtest's POSIX regexes have no \d.
constexpr char kTimeRegex[] = "[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{6})?";
constexpr char kDeltaRegex[] = "[0-9]+:[0-9]{2}:[0-9]{2}([.][0-9]{6})?";

TEST_F(JobEngineTest, CommandSucceeds) {
  JobState state;
  Json r = Run(Spec("j1.1", "command", {{"cmd", "echo hello"}}), &state);
  EXPECT_EQ(state, JobState::kSucceeded);
  EXPECT_EQ(r["cmd"], Json({"echo", "hello"}));
  EXPECT_EQ(r["rc"], 0);
  EXPECT_EQ(r["stdout"], "hello");
  EXPECT_EQ(r["stderr"], "");
  EXPECT_EQ(r["stdout_lines"], Json({"hello"}));
  EXPECT_EQ(r["stderr_lines"], Json::array());
  EXPECT_EQ(r["changed"], true);
  EXPECT_EQ(r["failed"], false);
  EXPECT_EQ(r["msg"], "");
  EXPECT_EQ(r["ansible_job_id"], "j1.1");
  EXPECT_EQ(r["started"], 1);
  EXPECT_EQ(r["finished"], 1);
  EXPECT_THAT(r["start"].get<std::string>(), MatchesRegex(kTimeRegex));
  EXPECT_THAT(r["end"].get<std::string>(), MatchesRegex(kTimeRegex));
  EXPECT_THAT(r["delta"].get<std::string>(), MatchesRegex(kDeltaRegex));
  EXPECT_FALSE(r.contains("stdout_truncated"));

  // The started event came first, and Status returns the same result.
  std::vector<JobEvent> all = events_.Lifecycle();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].kind, JobEvent::Kind::kStarted);
  EXPECT_EQ(all[0].state, JobState::kRunning);
  EXPECT_EQ(all[0].result, Json({{"ansible_job_id", "j1.1"}, {"started", 1}, {"finished", 0}}));
  EXPECT_EQ(*engine_->Status("j1.1"), r);

  // The spool layout and its permissions.
  struct stat st;
  ASSERT_EQ(stat(JobDir("j1.1").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  for (const char* f : {"spec.json", "status.json", "stdout", "stderr"}) {
    ASSERT_EQ(stat((JobDir("j1.1") + "/" + f).c_str(), &st), 0) << f;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << f;
  }
  EXPECT_EQ(*ReadFile(JobDir("j1.1") + "/stdout"), "hello\n");
}

TEST_F(JobEngineTest, CommandFailsWithReturnCode) {
  JobState state;
  Json r = Run(Spec("j2.1", "command", {{"argv", {"sh", "-c", "echo oops >&2; exit 3"}}}), &state);
  EXPECT_EQ(state, JobState::kFailed);
  EXPECT_EQ(r["rc"], 3);
  EXPECT_EQ(r["failed"], true);
  EXPECT_EQ(r["msg"], "non-zero return code");
  EXPECT_EQ(r["stderr"], "oops");
  EXPECT_EQ(r["stderr_lines"], Json({"oops"}));
  EXPECT_EQ(r["changed"], true);

  r = Run(Spec("j2.2", "command", {{"cmd", "false"}}), &state);
  EXPECT_EQ(r["rc"], 1);
  EXPECT_EQ(state, JobState::kFailed);
}

TEST_F(JobEngineTest, SignalGivesNegativeReturnCode) {
  Json r = Run(Spec("j3.1", "command", {{"argv", {"sh", "-c", "kill -9 $$"}}}));
  EXPECT_EQ(r["rc"], -9);
  EXPECT_EQ(r["failed"], true);
}

TEST_F(JobEngineTest, MissingProgramIsAnOsError) {
  Json r = Run(Spec("j3.2", "command", {{"cmd", "no-such-program-xyz arg"}}));
  EXPECT_EQ(r["rc"], 2);
  EXPECT_EQ(r["failed"], true);
  EXPECT_EQ(r["msg"], "[Errno 2] No such file or directory: b'no-such-program-xyz'");
}

TEST_F(JobEngineTest, LinesAndStripping) {
  Json r = Run(Spec("j4.1", "command", {{"argv", {"printf", "a\\nb\\r\\n\\nc\\n\\n"}}}));
  // Ansible strips all trailing newlines (rstrip("\r\n")), then splitlines().
  EXPECT_EQ(r["stdout"], "a\nb\r\n\nc");
  EXPECT_EQ(r["stdout_lines"], Json({"a", "b", "", "c"}));
  r = Run(Spec("j4.2", "command", {{"argv", {"printf", "a\\n\\n"}}, {"strip_empty_ends", false}}));
  EXPECT_EQ(r["stdout"], "a\n\n");
}

TEST_F(JobEngineTest, ArgvIsPassedLiterally) {
  const std::string nasty = "a; $(id) `x` \n'\"b\\ | > /tmp/never";
  Json r = Run(Spec("j5.1", "command", {{"argv", {"printf", "%s", nasty}}}));
  EXPECT_EQ(r["stdout"], nasty);
  EXPECT_EQ(r["cmd"], Json({"printf", "%s", nasty}));
  EXPECT_FALSE(PathExists("/tmp/never"));
}

TEST_F(JobEngineTest, CommandStringIsSplitLikeShlex) {
  Json r = Run(
      Spec("j6.1", "command", {{"cmd", R"(printf "%s|" "a b" 'c d' e\ f "q\"x" '$(id);' `y`)"}}));
  EXPECT_EQ(r["stdout"], "a b|c d|e f|q\"x|$(id);|`y`|");
  EXPECT_EQ(r["cmd"], Json({"printf", "%s|", "a b", "c d", "e f", "q\"x", "$(id);", "`y`"}));
  // _raw_params is the same thing under Ansible's own name.
  r = Run(Spec("j6.2", "command", {{"_raw_params", "echo 'x  y'"}}));
  EXPECT_EQ(r["stdout"], "x  y");
}

TEST_F(JobEngineTest, CommandExpandsVariablesLikeAnsible) {
  JobSpec spec = Spec("j6.3", "command", {{"cmd", "echo $TACHYON_T ${TACHYON_T} $NOPE_NOT_SET"}});
  spec.env = {{"TACHYON_T", "v1"}};
  Json r = Run(spec);
  EXPECT_EQ(r["stdout"], "v1 v1 $NOPE_NOT_SET");
  EXPECT_EQ(r["cmd"], Json({"echo", "$TACHYON_T", "${TACHYON_T}", "$NOPE_NOT_SET"}));
}

TEST_F(JobEngineTest, ChdirCreatesRemoves) {
  Json r = Run(Spec("j7.1", "command", {{"cmd", "pwd"}, {"chdir", work_}}));
  EXPECT_EQ(r["stdout"], work_);

  JobSpec in_cwd = Spec("j7.2", "command", {{"cmd", "pwd"}});
  in_cwd.cwd = work_;
  EXPECT_EQ(Run(in_cwd)["stdout"], work_);

  r = Run(Spec("j7.3", "command", {{"cmd", "pwd"}, {"chdir", "/nonexistent-dir"}}));
  EXPECT_EQ(r["failed"], true);
  EXPECT_EQ(r["msg"],
            "Unable to change directory before execution: [Errno 2] No such file or directory: "
            "b'/nonexistent-dir'");

  ASSERT_TRUE(WriteFileAtomic(work_ + "/exists", "x").ok());
  std::string marker = work_ + "/ran";
  r = Run(Spec("j7.4", "command", {{"argv", {"touch", marker}}, {"creates", work_ + "/ex*"}}));
  EXPECT_EQ(r["rc"], 0);
  EXPECT_EQ(r["changed"], false);
  EXPECT_EQ(r["failed"], false);
  EXPECT_EQ(r["stdout"], "skipped, since " + work_ + "/ex* exists");
  EXPECT_EQ(r["stdout_lines"], Json({"skipped, since " + work_ + "/ex* exists"}));
  EXPECT_EQ(r["msg"], "Did not run command since '" + work_ + "/ex*' exists");
  EXPECT_EQ(r["start"], nullptr);
  EXPECT_FALSE(PathExists(marker));

  // Relative paths are relative to chdir.
  r = Run(Spec("j7.5", "command",
               {{"argv", {"touch", marker}}, {"chdir", work_}, {"removes", "missing"}}));
  EXPECT_EQ(r["stdout"], "skipped, since missing does not exist");
  EXPECT_EQ(r["msg"], "Did not run command since 'missing' does not exist");
  EXPECT_EQ(r["changed"], false);
  EXPECT_FALSE(PathExists(marker));

  r = Run(Spec("j7.6", "command",
               {{"argv", {"touch", marker}}, {"chdir", work_}, {"removes", "exists"}}));
  EXPECT_EQ(r["changed"], true);
  EXPECT_EQ(r["rc"], 0);
  EXPECT_TRUE(PathExists(marker));
}

TEST_F(JobEngineTest, Stdin) {
  Json r = Run(Spec("j8.1", "command", {{"cmd", "cat"}, {"stdin", "hello"}}));
  EXPECT_EQ(r["stdout"], "hello");
  r = Run(Spec("j8.2", "command", {{"cmd", "wc -c"}, {"stdin", "hello"}}));
  EXPECT_EQ(r["stdout"], "6");  // stdin_add_newline
  r = Run(Spec("j8.3", "command", {{"cmd", "wc -c"}}));
  EXPECT_EQ(r["stdout"], "0");  // /dev/null
}

TEST_F(JobEngineTest, ShellPipeline) {
  JobSpec spec = Spec("j9.1", "shell", {{"cmd", "echo abc | tr a-z A-Z; echo $((1+2)) $FOO"}});
  spec.env = {{"FOO", "bar"}};
  JobState state;
  Json r = Run(spec, &state);
  EXPECT_EQ(state, JobState::kSucceeded);
  EXPECT_EQ(r["stdout"], "ABC\n3 bar");
  EXPECT_EQ(r["stdout_lines"], Json({"ABC", "3 bar"}));
  EXPECT_EQ(r["cmd"], "echo abc | tr a-z A-Z; echo $((1+2)) $FOO");
  r = Run(Spec("j9.2", "shell", {{"_raw_params", "exit 4"}, {"executable", "/bin/bash"}}));
  EXPECT_EQ(r["rc"], 4);
  EXPECT_EQ(r["msg"], "non-zero return code");
}

TEST_F(JobEngineTest, Ping) {
  JobState state;
  Json r = Run(Spec("j10.1", "ping", Json::object()), &state);
  EXPECT_EQ(state, JobState::kSucceeded);
  EXPECT_EQ(r["ping"], "pong");
  EXPECT_EQ(r["changed"], false);
  EXPECT_EQ(r["finished"], 1);
  EXPECT_EQ(Run(Spec("j10.2", "ping", {{"data", "hi"}}))["ping"], "hi");
  r = Run(Spec("j10.3", "ping", {{"data", "crash"}}), &state);
  EXPECT_EQ(state, JobState::kFailed);
  EXPECT_EQ(r["failed"], true);
  EXPECT_THAT(r["msg"].get<std::string>(), HasSubstr("MODULE FAILURE"));
}

TEST_F(JobEngineTest, UnknownModuleAndBadArgsRunNothing) {
  StartEngine();
  absl::Status st = engine_->Submit(Spec("j11.1", "nope", Json::object()));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "unknown module 'nope'");
  st = engine_->Submit(Spec("j11.2", "command", Json::object()));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "no command given");
  st = engine_->Submit(Spec("j11.3", "command", {{"cmd", "true"}, {"foo", 1}}));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()),
              HasSubstr("Unsupported parameters for (command) module: foo. Supported parameters "
                        "include: _raw_params, "));
  st = engine_->Submit(Spec("../evil", "ping", Json::object()));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(engine_->KnownJobs(), ElementsAre());
  EXPECT_TRUE(events_.All().empty());
}

TEST_F(JobEngineTest, TimeoutKillsTheWholeGroup) {
  std::string pidfile = work_ + "/grandchild";
  JobState state;
  Json r = Run(
      Spec("j12.1", "shell", {{"cmd", "sleep 1000 & echo $! > " + pidfile + "; sleep 1000"}}, 1),
      &state);
  EXPECT_EQ(state, JobState::kTimedOut);
  EXPECT_EQ(r["failed"], true);
  EXPECT_EQ(r["msg"], "Timeout exceeded");
  EXPECT_EQ(r["timed_out"], true);
  EXPECT_EQ(r["finished"], 1);
  EXPECT_EQ(r["rc"], -15);
  pid_t grandchild = ReadPid(pidfile);
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(ProcessGone(grandchild));
}

TEST_F(JobEngineTest, TimeoutEscalatesToSigkill) {
  // The shell and its children ignore SIGTERM; the grace ends in SIGKILL for the group.
  std::string pidfile = work_ + "/grandchild";
  JobState state;
  absl::Time start = absl::Now();
  Json r =
      Run(Spec("j12.2", "shell",
               {{"cmd", "trap '' TERM; sleep 1000 & echo $! > " + pidfile + "; sleep 1000"}}, 1),
          &state);
  EXPECT_EQ(state, JobState::kTimedOut);
  EXPECT_EQ(r["rc"], -9);
  EXPECT_GE(absl::Now() - start, absl::Seconds(2));  // timeout + grace
  pid_t grandchild = ReadPid(pidfile);
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(ProcessGone(grandchild));
}

TEST_F(JobEngineTest, KillStopsTheJob) {
  StartEngine();
  std::string pidfile = work_ + "/grandchild";
  JobSpec spec = Spec("j13.1", "shell", {{"cmd", "sleep 1000 & echo $! > " + pidfile + "; wait"}});
  ASSERT_TRUE(engine_->Submit(spec).ok());
  ASSERT_TRUE(WaitForFile(work_, "grandchild"));
  Json running = *engine_->Status("j13.1");
  EXPECT_EQ(running, Json({{"ansible_job_id", "j13.1"}, {"started", 1}, {"finished", 0}}));
  ASSERT_TRUE(engine_->Kill("j13.1").ok());
  std::optional<JobEvent> e = events_.Wait("j13.1", JobEvent::Kind::kFinished);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->state, JobState::kKilled);
  EXPECT_EQ(e->result["failed"], true);
  EXPECT_EQ(e->result["msg"], "Job killed");
  EXPECT_EQ(e->result["killed"], true);
  EXPECT_EQ(e->result["finished"], 1);
  pid_t grandchild = ReadPid(pidfile);
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(ProcessGone(grandchild));
  // Killing a finished job changes nothing; an unknown one is NotFound.
  EXPECT_TRUE(engine_->Kill("j13.1").ok());
  EXPECT_EQ(engine_->Kill("j13.404").code(), absl::StatusCode::kNotFound);
}

TEST_F(JobEngineTest, KillEscalatesToSigkill) {
  StartEngine();
  std::string pidfile = work_ + "/grandchild";
  ASSERT_TRUE(engine_
                  ->Submit(Spec("j13.3", "shell",
                                {{"cmd", "trap '' TERM; sleep 1000 & echo $! > " + pidfile +
                                             "; wait; sleep 1000"}}))
                  .ok());
  ASSERT_TRUE(WaitForFile(work_, "grandchild"));
  ASSERT_TRUE(engine_->Kill("j13.3").ok());
  std::optional<JobEvent> e = events_.Wait("j13.3", JobEvent::Kind::kFinished);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->state, JobState::kKilled);
  EXPECT_EQ(e->result["rc"], -9);
  pid_t grandchild = ReadPid(pidfile);
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(ProcessGone(grandchild));
}

TEST_F(JobEngineTest, KillRightAfterSubmit) {
  // The kill request may reach the shim before it has started the child: still "killed".
  StartEngine();
  ASSERT_TRUE(engine_->Submit(Spec("j13.2", "command", {{"cmd", "sleep 1000"}})).ok());
  ASSERT_TRUE(engine_->Kill("j13.2").ok());
  std::optional<JobEvent> e = events_.Wait("j13.2", JobEvent::Kind::kFinished);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->state, JobState::kKilled);
}

TEST_F(JobEngineTest, Cleanup) {
  Run(Spec("j14.1", "ping", Json::object()));
  EXPECT_THAT(engine_->KnownJobs(), ElementsAre("j14.1"));
  ASSERT_TRUE(engine_->Cleanup("j14.1").ok());
  EXPECT_FALSE(PathExists(JobDir("j14.1")));
  EXPECT_EQ(engine_->Status("j14.1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(engine_->Cleanup("j14.1").code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(engine_->KnownJobs(), ElementsAre());

  // A running job is killed, then its data goes.
  ASSERT_TRUE(engine_->Submit(Spec("j14.2", "command", {{"cmd", "sleep 1000"}})).ok());
  ASSERT_TRUE(engine_->Cleanup("j14.2").ok());
  std::optional<JobEvent> e = events_.Wait("j14.2", JobEvent::Kind::kFinished);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->state, JobState::kKilled);
  EXPECT_FALSE(PathExists(JobDir("j14.2")));
}

TEST_F(JobEngineTest, SubmitIsIdempotent) {
  std::string counter = work_ + "/counter";
  JobSpec spec = Spec("j15.1", "shell", {{"cmd", "echo x >> " + counter}});
  Run(spec);
  ASSERT_TRUE(engine_->Submit(spec).ok());
  ASSERT_TRUE(engine_->Submit(spec).ok());
  // A job submitted after the repeats finishes after them too: the repeats started nothing.
  Run(Spec("j15.2", "ping", Json::object()));
  EXPECT_EQ(*ReadFile(counter), "x\n");
  EXPECT_EQ(events_.Count("j15.1", JobEvent::Kind::kStarted), 1);
  EXPECT_EQ(events_.Count("j15.1", JobEvent::Kind::kFinished), 1);
}

TEST_F(JobEngineTest, OutputIsTruncatedInTheResult) {
  options_.max_inline_output = 1000;
  Json r =
      Run(Spec("j16.1", "shell", {{"cmd", "head -c 5000 /dev/zero | tr '\\0' a; echo err >&2"}}));
  EXPECT_EQ(r["stdout"].get<std::string>().size(), 1000u);
  EXPECT_EQ(r["stdout_truncated"], true);
  EXPECT_FALSE(r.contains("stderr_truncated"));
  EXPECT_EQ(r["stderr"], "err");
  EXPECT_EQ(ReadFile(JobDir("j16.1") + "/stdout")->size(), 5000u);
}

TEST_F(JobEngineTest, LargeOutputNeverBlocks) {
  JobState state;
  Json r = Run(Spec("j17.1", "shell",
                    {{"cmd", "head -c 10000000 /dev/zero | tr '\\0' a; echo done >&2"}}, 60),
               &state);
  EXPECT_EQ(state, JobState::kSucceeded);
  EXPECT_EQ(r["stdout"].get<std::string>().size(), size_t{1} << 20);
  EXPECT_EQ(r["stdout_truncated"], true);
  EXPECT_EQ(r["stderr"], "done");
  struct stat st;
  ASSERT_EQ(stat((JobDir("j17.1") + "/stdout").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 10000000);
}

TEST_F(JobEngineTest, NonUtf8OutputIsReplaced) {
  Json r = Run(Spec("j18.1", "command", {{"argv", {"printf", "\\377\\376ok\\303"}}}));
  EXPECT_EQ(r["stdout"], "\xEF\xBF\xBD\xEF\xBF\xBDok\xEF\xBF\xBD");
  absl::StatusOr<std::string> raw = ReadFile(JobDir("j18.1") + "/status.json");
  ASSERT_TRUE(raw.ok());
  EXPECT_FALSE(Json::parse(*raw, nullptr, false).is_discarded());
}

TEST_F(JobEngineTest, LostShim) {
  StartEngine();
  std::string pidfile = work_ + "/child";
  ASSERT_TRUE(
      engine_
          ->Submit(Spec("j19.1", "shell", {{"cmd", "echo $$ > " + pidfile + "; exec sleep 1000"}}))
          .ok());
  ASSERT_TRUE(WaitForFile(work_, "child"));
  ASSERT_TRUE(WaitForFile(JobDir("j19.1"), "shim.pid"));
  pid_t shim = ReadPid(JobDir("j19.1") + "/shim.pid");
  pid_t child = ReadPid(pidfile);
  ASSERT_GT(shim, 0);
  ASSERT_GT(child, 0);
  strays_.push_back(child);  // nobody is left to stop it
  ASSERT_EQ(kill(shim, SIGKILL), 0);
  std::optional<JobEvent> e = events_.Wait("j19.1", JobEvent::Kind::kFinished);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->state, JobState::kLost);
  EXPECT_EQ(e->result["failed"], true);
  EXPECT_EQ(e->result["msg"], "job shim died without a result");
  EXPECT_EQ(e->result["finished"], 1);
  EXPECT_EQ(JobStateFromResult(*engine_->Status("j19.1")), JobState::kLost);
}

TEST_F(JobEngineTest, ShimsOutliveTheEngineAndAreReadopted) {
  StartEngine();
  std::string pidfile = work_ + "/child";
  ASSERT_TRUE(
      engine_
          ->Submit(Spec("j20.1", "shell", {{"cmd", "echo $$ > " + pidfile + "; exec sleep 1000"}}))
          .ok());
  Run(Spec("j20.2", "ping", Json::object()));
  ASSERT_TRUE(WaitForFile(work_, "child"));
  engine_.reset();  // an agent restart: the running job is not touched
  pid_t child = ReadPid(pidfile);
  ASSERT_GT(child, 0);
  EXPECT_FALSE(ProcessGone(child));
  // Pretend the previous engine died before reporting j20.2.
  ASSERT_EQ(unlink((JobDir("j20.2") + "/reported").c_str()), 0);

  events_.Clear();
  StartEngine();
  std::optional<JobEvent> reported = events_.Wait("j20.2", JobEvent::Kind::kFinished);
  ASSERT_TRUE(reported);
  EXPECT_EQ(reported->state, JobState::kSucceeded);
  EXPECT_EQ(reported->result["ping"], "pong");
  ASSERT_TRUE(engine_->Kill("j20.1").ok());  // reaches the adopted shim
  std::optional<JobEvent> e = events_.Wait("j20.1", JobEvent::Kind::kFinished);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->state, JobState::kKilled);
  EXPECT_TRUE(ProcessGone(child));
  EXPECT_THAT(engine_->KnownJobs(), ElementsAre("j20.1", "j20.2"));
}

// --- Bounded stored output -------------------------------------------------------------------

TEST_F(JobEngineTest, StoredOutputIsCappedWithOneMarker) {
  options_.max_stored_output = 1000;
  JobState state;
  Json r = Run(Spec("j30.1", "shell",
                    {{"cmd", "head -c 5000 /dev/zero | tr '\\0' a; echo err >&2; exit 0"}}),
               &state);
  EXPECT_EQ(state, JobState::kSucceeded);
  const std::string marker = "\n[tachyon: output truncated at 1000 bytes]\n";
  EXPECT_EQ(*ReadFile(JobDir("j30.1") + "/stdout"), std::string(1000, 'a') + marker);
  EXPECT_EQ(*ReadFile(JobDir("j30.1") + "/stderr"), "err\n");
  // The result says it was cut even though all that was stored fits inline.
  EXPECT_EQ(r["stdout_truncated"], true);
  EXPECT_EQ(r["stdout"], std::string(1000, 'a') + "\n[tachyon: output truncated at 1000 bytes]");
  EXPECT_FALSE(r.contains("stderr_truncated"));
}

#ifdef __SANITIZE_ADDRESS__
// ASan keeps freed memory in quarantine, so every freed 64 KiB chunk still counts.
constexpr int64_t kEngineGrowthBoundKiB = 128 * 1024;
#else
constexpr int64_t kEngineGrowthBoundKiB = 32 * 1024;
#endif

// A flood never grows the shim or the engine: the shim holds one 64 KiB chunk, the engine
// reads at most max_live_output per stream. TACHYON_FLOOD_BYTES overrides the 1 GB.
TEST_F(JobEngineTest, OutputFloodKeepsMemoryFlat) {
  int64_t flood = 1000000000;
  if (const char* env = std::getenv("TACHYON_FLOOD_BYTES")) {
    ASSERT_TRUE(absl::SimpleAtoi(env, &flood));
  }
  options_.max_stored_output = 1u << 20;
  // Peak RSS of this process (the engine's) from here on: "5" resets VmHWM to VmRSS.
  {
    UniqueFd refs(open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC));
    ASSERT_TRUE(refs.valid());
    ASSERT_EQ(write(refs.get(), "5", 1), 1);
  }
  int64_t engine_before = StatusKiB(*ReadFile("/proc/self/status"), "VmHWM");
  absl::Time start = absl::Now();
  JobState state;
  // $PPID of the job's shell is the shim: its peak RSS, read once the flood has gone through.
  Json r = Run(
      Spec("j31.1", "shell",
           {{"cmd", absl::StrCat("head -c ", flood,
                                 " /dev/zero | tr '\\0' a; grep VmHWM /proc/$PPID/status >&2")}},
           600),
      &state);
  absl::Duration took = absl::Now() - start;
  int64_t engine_peak = StatusKiB(*ReadFile("/proc/self/status"), "VmHWM");
  int64_t shim_peak = StatusKiB(r["stderr"].get<std::string>(), "VmHWM");
  std::printf(
      "flood of %lld bytes in %s: shim peak RSS %lld KiB, engine process peak RSS %lld KiB (was "
      "%lld KiB)\n",
      static_cast<long long>(flood), absl::FormatDuration(took).c_str(),
      static_cast<long long>(shim_peak), static_cast<long long>(engine_peak),
      static_cast<long long>(engine_before));
  EXPECT_EQ(state, JobState::kSucceeded);
  EXPECT_EQ(r["stdout_truncated"], true);
  struct stat st;
  ASSERT_EQ(stat((JobDir("j31.1") + "/stdout").c_str(), &st), 0);
  EXPECT_EQ(static_cast<size_t>(st.st_size),
            (1u << 20) + std::string("\n[tachyon: output truncated at 1048576 bytes]\n").size());
  ASSERT_GT(shim_peak, 0);
  EXPECT_LT(shim_peak, 64 * 1024) << "shim peak RSS in KiB";
  EXPECT_LT(engine_peak - engine_before, kEngineGrowthBoundKiB) << "engine peak RSS growth";
  EXPECT_EQ(events_.Output("j31.1", "stdout"), std::string(1u << 20, 'a'));
}

TEST_F(JobEngineTest, OutputDrainAfterExitIsBounded) {
  // The job exits at once, but leaves a process that holds its stdout open: the shim reads
  // for a short while, then reports. The process itself is left alone (a normal exit).
  std::string pidfile = work_ + "/holder";
  JobState state;
  absl::Time start = absl::Now();
  Json r =
      Run(Spec("j32.1", "shell", {{"cmd", "sleep 1000 & echo $! > " + pidfile + "; echo bye"}}),
          &state);
  pid_t holder = ReadPid(pidfile);
  ASSERT_GT(holder, 0);
  strays_.push_back(holder);
  EXPECT_EQ(state, JobState::kSucceeded);
  EXPECT_EQ(r["stdout"], "bye");
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));
  EXPECT_FALSE(ProcessGone(holder));
}

// --- Live output -----------------------------------------------------------------------------

TEST_F(JobEngineTest, LiveOutputWhileRunning) {
  StartEngine();
  std::string fifo = work_ + "/go";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  ASSERT_TRUE(
      engine_
          ->Submit(Spec("j33.1", "shell",
                        {{"cmd", "echo one; echo uno >&2; read x < " + fifo + "; echo two"}}))
          .ok());
  // "one" arrives while the job is still blocked on the fifo: live, not with the result.
  ASSERT_TRUE(events_.WaitFor([](const JobEvent& e) {
    return e.jid == "j33.1" && e.kind == JobEvent::Kind::kOutput && e.stream == "stdout";
  }));
  ASSERT_TRUE(events_.WaitFor([](const JobEvent& e) {
    return e.jid == "j33.1" && e.kind == JobEvent::Kind::kOutput && e.stream == "stderr";
  }));
  EXPECT_EQ(events_.Count("j33.1", JobEvent::Kind::kFinished), 0);
  EXPECT_EQ(events_.Output("j33.1", "stdout"), "one\n");
  EXPECT_EQ(events_.Output("j33.1", "stderr"), "uno\n");
  UniqueFd go(open(fifo.c_str(), O_RDWR | O_CLOEXEC));  // never blocks, holds the data
  ASSERT_TRUE(go.valid());
  ASSERT_EQ(write(go.get(), "x\n", 2), 2);
  std::optional<JobEvent> e = events_.Wait("j33.1", JobEvent::Kind::kFinished);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->result["stdout"], "one\ntwo");
  // All of it, in order, before the result, and nothing after it.
  EXPECT_EQ(events_.Output("j33.1", "stdout"), "one\ntwo\n");
  std::vector<JobEvent> all = events_.All();
  EXPECT_EQ(all.front().kind, JobEvent::Kind::kStarted);
  EXPECT_EQ(all.back().kind, JobEvent::Kind::kFinished);
}

TEST_F(JobEngineTest, LiveOutputIsCappedPerStream) {
  options_.max_live_output = 10;
  Json r = Run(Spec("j34.1", "shell", {{"cmd", "printf 0123456789abcdef; printf XYZ >&2"}}));
  EXPECT_EQ(r["stdout"], "0123456789abcdef");
  EXPECT_EQ(events_.Output("j34.1", "stdout"), "0123456789");
  EXPECT_EQ(events_.Output("j34.1", "stderr"), "XYZ");
  options_.max_live_output = 0;
  engine_.reset();
  events_.Clear();
  Run(Spec("j34.2", "shell", {{"cmd", "echo quiet"}}));
  EXPECT_EQ(events_.Output("j34.2", "stdout"), "");
}

// --- Re-adoption: exactly one result from the engine after a restart ---------------------------

TEST_F(JobEngineTest, ReadoptedJobFinishesOnceAndResumesLiveOutput) {
  std::string fifo = work_ + "/go";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EventLog first;
  {
    auto a = JobEngine::Create(options_, [&first](const JobEvent& e) { first.Add(e); });
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE((*a)->Submit(Spec("j35.1", "shell",
                                  {{"cmd", "echo before; read x < " + fifo + "; echo after"}}))
                    .ok());
    ASSERT_TRUE(first.WaitFor([](const JobEvent& e) {
      return e.kind == JobEvent::Kind::kOutput && e.data == "before\n";
    }));
  }               // engine A goes; its shim does not
  StartEngine();  // engine B, same spool
  UniqueFd go(open(fifo.c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(go.valid());
  ASSERT_EQ(write(go.get(), "x\n", 2), 2);
  std::optional<JobEvent> e = events_.Wait("j35.1", JobEvent::Kind::kFinished);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->state, JobState::kSucceeded);
  EXPECT_EQ(e->result["stdout"], "before\nafter");
  // B sends only what came after it took over.
  EXPECT_EQ(events_.Output("j35.1", "stdout"), "after\n");
  EXPECT_EQ(events_.FirstOffset("j35.1", "stdout"), 7);
  // A later job goes through B too, and j35.1 was reported exactly once, by B only.
  Run(Spec("j35.2", "ping", Json::object()));
  EXPECT_EQ(events_.Count("j35.1", JobEvent::Kind::kFinished), 1);
  EXPECT_EQ(first.Count("j35.1", JobEvent::Kind::kFinished), 0);
  EXPECT_EQ(events_.Count("j35.1", JobEvent::Kind::kStarted), 0);
  EXPECT_TRUE(PathExists(JobDir("j35.1") + "/reported"));
}

// --- Nothing survives a timeout or a kill ------------------------------------------------------

class JobContainmentTest : public JobEngineTest, public ::testing::WithParamInterface<bool> {};

// Two escapes from the process group: `setsid` in the background, and a double fork whose
// middle process exits (its child is reparented to the shim, the subreaper).
// The pid files appear whole (written, then renamed): a reader woken by p2's creation must
// never find it empty.
std::string EscapingJob(const std::string& work) {
  return "cat /proc/self/cgroup; setsid sleep 1000 & echo $! > " + work + "/p1.tmp; mv " + work +
         "/p1.tmp " + work + "/p1; sh -c 'setsid sleep 1000 & echo $! > " + work + "/p2.tmp; mv " +
         work + "/p2.tmp " + work + "/p2'; sleep 1000";
}

TEST_P(JobContainmentTest, TimeoutKillsSetsidDescendants) {
  options_.use_cgroup = GetParam();
  JobState state;
  Json r = Run(Spec("j36.1", "shell", {{"cmd", EscapingJob(work_)}}, 1), &state);
  EXPECT_EQ(state, JobState::kTimedOut);
  for (const char* f : {"/p1", "/p2"}) {
    pid_t pid = ReadPid(work_ + f);
    ASSERT_GT(pid, 0) << f;
    strays_.push_back(pid);  // only if the test fails
    // Killed and reaped by the shim before it wrote the result: not even a zombie.
    EXPECT_TRUE(ProcessReaped(pid)) << f;
  }
  absl::StatusOr<std::string> cg = ReadFile(JobDir("j36.1") + "/cgroup");
  if (GetParam() && cg.ok()) {
    EXPECT_THAT(r["stdout"].get<std::string>(), HasSubstr("/tachyon-jobs/j36.1."));
    EXPECT_FALSE(PathExists(std::string(absl::StripAsciiWhitespace(*cg))));  // removed
  } else {
    EXPECT_FALSE(cg.ok());
    EXPECT_THAT(r["stdout"].get<std::string>(), Not(HasSubstr("tachyon-jobs")));
  }
}

TEST_P(JobContainmentTest, KillTakesSetsidDescendants) {
  options_.use_cgroup = GetParam();
  StartEngine();
  ASSERT_TRUE(engine_->Submit(Spec("j36.2", "shell", {{"cmd", EscapingJob(work_)}})).ok());
  ASSERT_TRUE(WaitForFile(work_, "p2"));
  ASSERT_TRUE(engine_->Kill("j36.2").ok());
  std::optional<JobEvent> e = events_.Wait("j36.2", JobEvent::Kind::kFinished);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->state, JobState::kKilled);
  for (const char* f : {"/p1", "/p2"}) {
    pid_t pid = ReadPid(work_ + f);
    ASSERT_GT(pid, 0) << f;
    strays_.push_back(pid);
    EXPECT_TRUE(ProcessReaped(pid)) << f;
  }
}

INSTANTIATE_TEST_SUITE_P(CgroupOrFallback, JobContainmentTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Cgroup" : "ProcessGroupAndSubreaper";
                         });

TEST_F(JobEngineTest, DaemonSurvivesANormalExit) {
  // As with Ansible: a task may start a daemon; a job that ends normally leaves it running.
  std::string pidfile = work_ + "/daemon";
  JobState state;
  Run(Spec("j37.1", "shell",
           {{"cmd", "setsid sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > " + pidfile}}),
      &state);
  EXPECT_EQ(state, JobState::kSucceeded);
  pid_t daemon = ReadPid(pidfile);
  ASSERT_GT(daemon, 0);
  strays_.push_back(daemon);
  EXPECT_FALSE(ProcessGone(daemon));
}

// --- Retention ---------------------------------------------------------------------------------

// Sets a file's mtime `age` into the past (no sleeping).
void Age(const std::string& path, absl::Duration age) {
  struct timespec times[2];
  times[0] = absl::ToTimespec(absl::Now() - age);
  times[1] = times[0];
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path;
}

TEST_F(JobEngineTest, RetentionAtCreate) {
  options_.retention = absl::Hours(1);
  Run(Spec("j40.1", "ping", Json::object()));  // old and reported: goes
  Run(Spec("j40.2", "ping", Json::object()));  // recent: stays
  Run(Spec("j40.3", "ping", Json::object()));  // old but never reported: stays
  engine_.reset();  // joins the engine thread: every "reported" marker is written
  for (const char* jid : {"j40.1", "j40.3"}) {
    Age(JobDir(jid) + "/status.json", absl::Hours(2));
    Age(JobDir(jid) + "/reported", absl::Hours(2));
  }
  ASSERT_EQ(unlink((JobDir("j40.3") + "/reported").c_str()), 0);
  events_.Clear();
  StartEngine();
  EXPECT_FALSE(PathExists(JobDir("j40.1")));
  EXPECT_TRUE(PathExists(JobDir("j40.2")));
  ASSERT_TRUE(events_.Wait("j40.3", JobEvent::Kind::kFinished));  // reported now instead
  EXPECT_TRUE(PathExists(JobDir("j40.3")));
}

TEST_F(JobEngineTest, RetentionSweepsPeriodically) {
  options_.retention = absl::Seconds(1);
  StartEngine();
  ASSERT_TRUE(engine_->Submit(Spec("j41.1", "command", {{"cmd", "sleep 1000"}})).ok());
  Run(Spec("j41.2", "ping", Json::object()));
  // The marker is written just after the event is delivered.
  ASSERT_TRUE(WaitForFile(JobDir("j41.2"), "reported"));
  Age(JobDir("j41.2") + "/status.json", absl::Hours(1));
  Age(JobDir("j41.2") + "/reported", absl::Hours(1));
  // The engine's timerfd fires every second; the job goes at the next tick.
  ASSERT_TRUE(WaitForGone(spool_, "j41.2"));
  EXPECT_EQ(engine_->Status("j41.2").status().code(), absl::StatusCode::kNotFound);
  // A running job is never swept, however old its files look.
  Age(JobDir("j41.1") + "/status.json", absl::Hours(1));
  ASSERT_TRUE(Run(Spec("j41.3", "ping", Json::object())).is_object());
  EXPECT_TRUE(PathExists(JobDir("j41.1")));
  ASSERT_TRUE(engine_->Kill("j41.1").ok());
  ASSERT_TRUE(events_.Wait("j41.1", JobEvent::Kind::kFinished));
}

// --- A full disk -------------------------------------------------------------------------------

// Fills the filesystem of `path` by writing it until ENOSPC.
void FillDisk(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  ASSERT_TRUE(fd.valid());
  std::string block(4096, 'x');
  while (write(fd.get(), block.data(), block.size()) > 0) {
  }
  while (write(fd.get(), block.data(), 1) > 0) {
  }
  ASSERT_EQ(errno, ENOSPC);
}

TEST_F(JobEngineTest, FullSpoolDisk) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to mount a small tmpfs";
  ASSERT_TRUE(MakeDirs(tiny_).ok());
  if (mount("tmpfs", tiny_.c_str(), "tmpfs", 0, "size=64k,mode=0700") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here: " << strerror(errno);
  }
  mounted_ = true;
  options_.spool_dir = tiny_ + "/spool";
  StartEngine();
  std::string filler = tiny_ + "/filler";

  // Submit on a full disk: a clear error, no half-made job, and the engine goes on.
  FillDisk(filler);
  absl::Status st = engine_->Submit(Spec("j42.1", "ping", Json::object()));
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
  EXPECT_THAT(std::string(st.message()), HasSubstr("spool is full"));
  EXPECT_THAT(std::string(st.message()), HasSubstr(options_.spool_dir + "/j42.1/"));
  EXPECT_THAT(std::string(st.message()), HasSubstr("No space left on device"));
  EXPECT_FALSE(PathExists(options_.spool_dir + "/j42.1"));
  ASSERT_EQ(unlink(filler.c_str()), 0);
  JobState state;
  Json r = Run(Spec("j42.1", "ping", Json::object()), &state);
  EXPECT_EQ(state, JobState::kSucceeded);

  // The disk fills while the job runs: the shim cannot write the result, says so by its exit
  // code, and the engine reports the job lost because the spool is full.
  r = Run(Spec("j42.2", "shell", {{"cmd", "head -c 1000000 /dev/zero > " + filler + "; true"}}),
          &state);
  EXPECT_EQ(state, JobState::kLost);
  EXPECT_THAT(r["msg"].get<std::string>(), HasSubstr("the spool is full"));
  EXPECT_THAT(r["msg"].get<std::string>(), HasSubstr("no space left on device"));
  ASSERT_EQ(unlink(filler.c_str()), 0);

  // Space is back: the state is consistent and new jobs run.
  absl::StatusOr<Json> status = engine_->Status("j42.2");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(JobStateFromResult(*status), JobState::kLost);
  r = Run(Spec("j42.3", "command", {{"cmd", "echo fine"}}), &state);
  EXPECT_EQ(state, JobState::kSucceeded);
  EXPECT_EQ(r["stdout"], "fine");
  EXPECT_THAT(engine_->KnownJobs(), ElementsAre("j42.1", "j42.2", "j42.3"));
  engine_.reset();
  // A restarted engine does not report j42.2 again.
  events_.Clear();
  StartEngine();
  Run(Spec("j42.4", "ping", Json::object()));
  EXPECT_EQ(events_.Count("j42.2", JobEvent::Kind::kFinished), 0);
}

}  // namespace
}  // namespace tachyon::jobs
