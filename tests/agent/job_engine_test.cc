// The job engine with real processes: the real shim binary, real commands, real signals.
// Nothing sleeps to synchronise: tests wait for engine events (or inotify for files) with a
// generous bound.

#include "agent/jobs/job_engine.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

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
    options_.spool_dir = spool_;
    options_.shim_command = {TACHYON_TEST_SHIM};
    options_.kill_grace = absl::Seconds(1);
  }

  void TearDown() override {
    engine_.reset();
    for (pid_t pid : strays_) kill(pid, SIGKILL);
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
  std::vector<JobEvent> all = events_.All();
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

}  // namespace
}  // namespace tachyon::jobs
