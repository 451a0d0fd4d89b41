// The job shim: one small process per job, in its own session, that owns the job's process
// group. It outlives the agent, enforces the timeout on CLOCK_MONOTONIC, turns a SIGTERM sent
// to itself into a kill of the whole job, captures the child's output through pipes into
// capped spool files, and leaves the final result in status.json (temp file, fsync, rename)
// for whoever looks next: the engine that started it, or one that re-adopts it after a restart.
//
// One poll loop serves everything: the child's pidfd, a signalfd (kill requests and SIGCHLD)
// and the two output pipes. Nothing sleeps; every wait has a deadline on the monotonic clock
// except the wait for a child with no timeout that nobody asked to stop.
//
// What survives a job:
//  - After a timeout or a kill, nothing. The shim is a child subreaper, so a descendant whose
//    parent exits (a double fork, `setsid cmd &`) is reparented to the shim rather than to
//    init. After SIGTERM to the group and the grace, the shim SIGKILLs the group, the job's
//    cgroup (cgroup.kill, when cgroup v2 is available: see cgroup.h) and every descendant it
//    finds under itself in /proc, again each time another one is reparented to it, and reaps
//    them all until it has no children left. No zombie remains.
//  - After a normal exit, descendants are left alone, as Ansible does: a task may legitimately
//    start a daemon. They go to init (or the next subreaper up) when the shim exits. The shim
//    reads their output, if they kept the job's stdout/stderr, for at most kDrainAfterExit.

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/jobs/cgroup.h"
#include "agent/jobs/clock.h"
#include "agent/jobs/job_engine.h"
#include "agent/jobs/process.h"
#include "agent/jobs/spool.h"
#include "agent/modules/module.h"
#include "common/fs.h"

namespace tachyon::jobs {
namespace {

// How long the shim waits for SIGKILLed processes to be reaped before it writes the result
// anyway (a process stuck in uninterruptible sleep cannot be killed).
constexpr absl::Duration kReapBound = absl::Seconds(30);
// After a normal exit, how long output is still read from descendants that keep the pipes
// open (a daemon that did not redirect them). Python's communicate() would wait forever.
constexpr absl::Duration kDrainAfterExit = absl::Seconds(2);
// One read from a pipe. Also the most the shim ever holds of the job's output in memory.
constexpr size_t kChunk = 64u << 10;

enum class Ending { kNormal, kTimedOut, kKilled };

// One output stream: a pipe from the child into a spool file that keeps the first `cap`
// bytes, then one marker line. Past the cap it reads and discards, so the child never blocks
// on a full pipe and the shim's memory stays at one chunk whatever the child writes.
class OutputSink {
 public:
  OutputSink(UniqueFd pipe, UniqueFd file, uint64_t cap, std::string path)
      : pipe_(std::move(pipe)), file_(std::move(file)), cap_(cap), path_(std::move(path)) {}

  bool open() const { return pipe_.valid(); }
  int fd() const { return pipe_.get(); }
  // Stored output was cut (at the cap, or because the spool's disk is full).
  bool truncated() const { return truncated_; }
  void Close() { pipe_.Reset(); }

  // Reads what the pipe has, a bounded number of chunks so the other fds get their turn.
  // Closes the pipe at EOF.
  void Drain(char* buf) {
    for (int i = 0; i < 16 && open(); ++i) {
      ssize_t n = ::read(pipe_.get(), buf, kChunk);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return;
      if (n <= 0) {
        Close();
        return;
      }
      Store(buf, static_cast<size_t>(n));
    }
  }

 private:
  void Store(const char* data, size_t size) {
    if (stored_ < cap_) {
      size_t keep = static_cast<size_t>(std::min<uint64_t>(size, cap_ - stored_));
      Write(data, keep);
      stored_ += keep;
      size -= keep;
    }
    if (size > 0 && !truncated_) {
      truncated_ = true;
      std::string marker = absl::StrCat("\n[tachyon: output truncated at ", cap_, " bytes]\n");
      Write(marker.data(), marker.size());
    }
  }

  void Write(const char* data, size_t size) {
    while (size > 0 && file_.valid()) {
      ssize_t n = ::write(file_.get(), data, size);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        // A full spool disk: keep draining the child, store nothing more, say it was cut.
        std::string msg = absl::StrCat("tachyon-shim[", getpid(), "]: write ", path_, ": ",
                                       strerror(errno), "; discarding the rest of this stream\n");
        (void)!::write(2, msg.data(), msg.size());
        file_.Reset();
        truncated_ = true;
        return;
      }
      data += n;
      size -= static_cast<size_t>(n);
    }
  }

  UniqueFd pipe_;
  UniqueFd file_;
  const uint64_t cap_;
  const std::string path_;
  uint64_t stored_ = 0;
  bool truncated_ = false;
};

struct Signals {
  bool kill = false;   // SIGTERM or SIGINT: the engine asks for the job to be killed
  bool child = false;  // SIGCHLD: something to reap
};

class Shim {
 public:
  // Until spec.json is read, the directory name stands in for the jid.
  Shim(std::string job_dir, const Clock& clock)
      : paths_(std::move(job_dir)),
        jid_(paths_.dir.substr(paths_.dir.rfind('/') + 1)),
        clock_(clock) {}

  int Run() {
    // Kill requests (the engine blocked these before exec, so one sent early is pending) and
    // SIGCHLD, all read from one signalfd in the poll loop.
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGCHLD);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    signal_fd_.Reset(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
    // Own session: the agent's terminal or group signals never reach the job by accident.
    setsid();
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    // Orphaned descendants of the job come to the shim instead of init, so that a kill finds
    // (and reaping clears) them all.
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
      Log(absl::StrCat("PR_SET_CHILD_SUBREAPER: ", strerror(errno)));
    }

    // Pid, cgroup and "running" files describe this live process: a power loss ends it anyway,
    // so they need no fsync (the final status below does get one).
    absl::Status st = WriteFileAtomic(paths_.shim_pid, absl::StrCat(getpid(), "\n"), 0600,
                                      Durability::kCrashSafe);
    if (!st.ok()) Log(st.ToString());

    absl::StatusOr<nlohmann::json> spec_json = ReadJsonFile(paths_.spec);
    if (!spec_json.ok())
      return Fail(absl::StrCat("cannot read job spec: ", spec_json.status().message()));
    absl::StatusOr<ShimSpec> spec = ShimSpecFromJson(*spec_json);
    if (!spec.ok()) return Fail(std::string(spec.status().message()));
    spec_ = std::move(*spec);
    jid_ = spec_.job.jid;

    for (const auto& [k, v] : spec_.job.env) setenv(k.c_str(), v.c_str(), 1);
    if (!spec_.job.cwd.empty() && chdir(spec_.job.cwd.c_str()) != 0) {
      int err = errno;
      return Fail(absl::StrCat("Unable to change directory before execution: [Errno ", err, "] ",
                               std::strerror(err), ": b'", spec_.job.cwd, "'"));
    }
    const modules::Module* module = modules::FindModule(spec_.job.module);
    if (module == nullptr) return Fail(absl::StrCat("unknown module '", spec_.job.module, "'"));

    std::string lock = module->HostLock(spec_.job.args);
    if (!lock.empty()) {
      absl::Status locked = TakeHostLock(lock);
      if (!locked.ok()) return Fail(std::string(locked.message()));
    }
    modules::Prepared prepared = module->Prepare(spec_.job.args, spec_.job.cwd);
    if (!prepared.exec) return Finish(std::move(prepared.result), Ending::kNormal);
    if (ReadSignals().kill) return Finish(nlohmann::json{{"changed", false}}, Ending::kKilled);
    return RunProcess(*module, prepared);
  }

 private:
  // Waits for an exclusive flock on STATE/locks/NAME.lock (STATE is the spool's parent, the
  // agent's state dir) and holds it until the shim exits, so that jobs of modules that must
  // not overlap on one host (package managers) run one after another.
  absl::Status TakeHostLock(const std::string& name) {
    std::string spool = paths_.dir.substr(0, paths_.dir.rfind('/'));
    std::string dir = spool.substr(0, spool.rfind('/')) + "/locks";
    absl::Status st = MakeDirs(dir, 0700);
    if (!st.ok()) return st;
    std::string path = absl::StrCat(dir, "/", name, ".lock");
    host_lock_.Reset(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!host_lock_.valid()) return ErrnoStatus(errno, "open " + path);
    while (flock(host_lock_.get(), LOCK_EX) != 0) {
      if (errno != EINTR) return ErrnoStatus(errno, "flock " + path);
    }
    return absl::OkStatus();
  }

  int RunProcess(const modules::Module& module, const modules::Prepared& prepared) {
    const modules::ExecPlan& plan = *prepared.exec;
    if (plan.argv.empty()) return Fail("empty command");
    UniqueFd out_file(
        open(paths_.stdout_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    UniqueFd err_file(
        open(paths_.stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (!out_file.valid() || !err_file.valid())
      return Fail(absl::StrCat("cannot open output files: ", strerror(errno)));
    UniqueFd in_fd;
    if (plan.stdin_data) {
      // A file, not a pipe: the shim never has to feed the child.
      absl::Status st =
          WriteFileAtomic(paths_.stdin_path, *plan.stdin_data, 0600, Durability::kCrashSafe);
      if (!st.ok()) return Fail(std::string(st.message()));
      in_fd.Reset(open(paths_.stdin_path.c_str(), O_RDONLY | O_CLOEXEC));
    } else {
      in_fd.Reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
    }
    if (!in_fd.valid()) return Fail(absl::StrCat("cannot open stdin: ", strerror(errno)));
    int out_pipe[2], err_pipe[2], exec_pipe[2];
    if (pipe2(out_pipe, O_CLOEXEC) != 0) return Fail(absl::StrCat("pipe2: ", strerror(errno)));
    UniqueFd out_read(out_pipe[0]), out_write(out_pipe[1]);
    if (pipe2(err_pipe, O_CLOEXEC) != 0) return Fail(absl::StrCat("pipe2: ", strerror(errno)));
    UniqueFd err_read(err_pipe[0]), err_write(err_pipe[1]);
    if (pipe2(exec_pipe, O_CLOEXEC) != 0) return Fail(absl::StrCat("pipe2: ", strerror(errno)));
    UniqueFd exec_status(exec_pipe[0]), exec_write(exec_pipe[1]);
    MakeCgroup();

    std::vector<char*> argv;
    for (const std::string& a : plan.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    int cgroup_procs = cgroup_ ? cgroup_->procs_fd() : -1;
    bool in_cgroup = false;

    modules::ProcessOutcome outcome;
    outcome.start = clock_.WallNow();
    absl::Duration mono_start = clock_.Now();
    pid_t pid = ForkIntoCgroup(cgroup_ ? cgroup_->dir_fd() : -1, &in_cgroup);
    if (pid < 0) return Fail(absl::StrCat("fork: ", strerror(errno)));
    if (pid == 0) {
      // Only async-signal-safe calls from here to exec.
      if (!in_cgroup && cgroup_procs >= 0) {
        (void)!write(cgroup_procs, "0", 1);  // join before anything runs
      }
      setsid();  // own session and process group: pgid == pid
      dup2(in_fd.get(), 0);
      dup2(out_write.get(), 1);
      dup2(err_write.get(), 2);
      for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      CloseFdsFrom(3, exec_write.get());
      execvp(argv[0], argv.data());
      int e = errno;
      (void)!write(exec_write.get(), &e, sizeof(e));
      _exit(127);
    }
    child_pid_ = pid;
    // Only the child holds the write ends now: EOF comes when it (and whatever inherited
    // them) is gone.
    exec_write.Reset();
    out_write.Reset();
    err_write.Reset();
    in_fd.Reset();
    if (cgroup_) cgroup_->CloseChildFds();
    fcntl(out_read.get(), F_SETFL, O_NONBLOCK);
    fcntl(err_read.get(), F_SETFL, O_NONBLOCK);
    OutputSink out(std::move(out_read), std::move(out_file), spec_.max_stored_output,
                   paths_.stdout_path);
    OutputSink err(std::move(err_read), std::move(err_file), spec_.max_stored_output,
                   paths_.stderr_path);

    absl::Status st =
        WriteJsonFileAtomic(paths_.status, RunningResult(jid_), Durability::kCrashSafe);
    if (!st.ok()) Log(st.ToString());

    absl::StatusOr<UniqueFd> pidfd = PidfdOpen(pid);
    if (!pidfd.ok()) {
      // Cannot happen for our own unreaped child; do not leave it running unobserved.
      KillEverything();
      waitpid(pid, nullptr, 0);
      return Fail(std::string(pidfd.status().message()));
    }
    Ending ending = Supervise(pidfd->get(), mono_start, &out, &err);
    outcome.end = clock_.WallNow();
    outcome.elapsed = child_exit_mono_.value_or(clock_.Now()) - mono_start;
    if (child_info_) {
      if (child_info_->si_code == CLD_EXITED) {
        outcome.exited = true;
        outcome.exit_code = child_info_->si_status;
      } else {
        outcome.term_signal = child_info_->si_status;
      }
    } else {
      outcome.term_signal = SIGKILL;  // gave up waiting after SIGKILL
      Log("child not reaped after SIGKILL");
    }
    RemoveCgroup(ending);
    int child_errno = 0;
    if (read(exec_status.get(), &child_errno, sizeof(child_errno)) ==
        static_cast<ssize_t>(sizeof(child_errno))) {
      outcome.exec_errno = child_errno;
    }
    ReadOutput(paths_.stdout_path, &outcome.stdout_data, &outcome.stdout_truncated);
    ReadOutput(paths_.stderr_path, &outcome.stderr_data, &outcome.stderr_truncated);
    outcome.stdout_truncated |= out.truncated();
    outcome.stderr_truncated |= err.truncated();
    return Finish(module.Finish(prepared, outcome), ending);
  }

  // Runs the job to its end: serves output, kill requests, the timeout and the reaping.
  Ending Supervise(int pidfd, absl::Duration mono_start, OutputSink* out, OutputSink* err) {
    enum class Phase { kRunning, kTerminating, kKilling, kDraining } phase = Phase::kRunning;
    Ending ending = Ending::kNormal;
    // Measured from when the child started, on the monotonic clock only.
    Deadline deadline = Deadline::Never(clock_);
    if (spec_.job.timeout_seconds > 0) {
      deadline = Deadline::After(
          clock_, mono_start + absl::Seconds(spec_.job.timeout_seconds) - clock_.Now());
    }
    absl::Duration grace = absl::Milliseconds(std::max<int64_t>(0, spec_.kill_grace_ms));
    bool children_left = true;
    std::vector<char> buf(kChunk);

    while (true) {
      if (child_info_) {
        // The child is gone. Done once its output is in and, after a kill, once every
        // descendant is reaped too.
        bool output_done = !out->open() && !err->open();
        if (output_done && (ending == Ending::kNormal || !children_left)) break;
        if (deadline.Expired()) {
          Log(ending == Ending::kNormal ? "output still open after the job exited; not waiting"
                                        : "descendants not reaped after SIGKILL");
          break;
        }
      }
      struct pollfd fds[4];
      int n_fds = 0;
      int pid_slot = -1, sig_slot = -1, out_slot = -1, err_slot = -1;
      if (!child_info_) {
        pid_slot = n_fds;
        fds[n_fds++] = {pidfd, POLLIN, 0};
      }
      if (signal_fd_.valid()) {
        sig_slot = n_fds;
        fds[n_fds++] = {signal_fd_.get(), POLLIN, 0};
      }
      if (out->open()) {
        out_slot = n_fds;
        fds[n_fds++] = {out->fd(), POLLIN, 0};
      }
      if (err->open()) {
        err_slot = n_fds;
        fds[n_fds++] = {err->fd(), POLLIN, 0};
      }
      int n = poll(fds, static_cast<nfds_t>(n_fds), deadline.PollTimeoutMs());
      if (n < 0) {
        if (errno == EINTR) continue;
        Log(absl::StrCat("poll: ", strerror(errno)));
        // Cannot watch it any more; do not let it run unbounded.
        KillEverything();
        if (ending == Ending::kNormal) ending = Ending::kKilled;
        ReapChildren();
        break;
      }
      if (out_slot >= 0 && fds[out_slot].revents != 0) out->Drain(buf.data());
      if (err_slot >= 0 && fds[err_slot].revents != 0) err->Drain(buf.data());
      Signals sig;
      if (sig_slot >= 0 && fds[sig_slot].revents != 0) sig = ReadSignals();
      bool child_was_running = !child_info_.has_value();
      if (sig.child || (pid_slot >= 0 && fds[pid_slot].revents != 0)) {
        children_left = ReapChildren();
      }
      if (child_was_running && child_info_) {
        // The child just ended. After a timeout or kill, nothing of the job may outlive it.
        if (ending != Ending::kNormal) KillEverything();
        phase = Phase::kDraining;
        deadline =
            Deadline::After(clock_, ending == Ending::kNormal ? kDrainAfterExit : kReapBound);
        continue;
      }
      if (child_info_) {
        // Descendants reparented to us since the last sweep get the same treatment.
        if (ending != Ending::kNormal && sig.child && children_left)
          SignalDescendants(getpid(), SIGKILL);
        continue;
      }
      if (sig.kill && phase == Phase::kRunning) {
        ending = Ending::kKilled;
        Terminate();
        phase = Phase::kTerminating;
        deadline = Deadline::After(clock_, grace);
        continue;
      }
      if (!deadline.Expired()) continue;
      switch (phase) {
        case Phase::kRunning:
          ending = Ending::kTimedOut;
          Terminate();
          phase = Phase::kTerminating;
          deadline = Deadline::After(clock_, grace);
          break;
        case Phase::kTerminating:
          KillEverything();
          phase = Phase::kKilling;
          deadline = Deadline::After(clock_, kReapBound);
          break;
        case Phase::kKilling:
        case Phase::kDraining:
          // The child itself cannot be reaped (uninterruptible sleep): give up on it.
          return ending;
      }
    }
    return ending;
  }

  // Reaps every child that has exited (the job's child, and descendants reparented to the
  // subreaper shim), recording the job child's status. False once the shim has no children.
  bool ReapChildren() {
    while (true) {
      siginfo_t info = {};
      if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG) != 0) {
        if (errno == EINTR) continue;
        return errno != ECHILD;
      }
      if (info.si_pid == 0) return true;  // children remain, none has exited
      if (info.si_pid == child_pid_) {
        child_info_ = info;
        child_exit_mono_ = clock_.Now();
      }
    }
  }

  // The polite step: SIGTERM to the job's process group and to every descendant.
  void Terminate() {
    SignalGroup(child_pid_, SIGTERM);
    SignalDescendants(getpid(), SIGTERM);
  }

  // SIGKILL to the job's process group, its cgroup, and every descendant of the shim.
  void KillEverything() {
    SignalGroup(child_pid_, SIGKILL);
    if (cgroup_) {
      absl::Status st = cgroup_->KillAll();
      if (!st.ok()) Log(st.ToString());
    }
    SignalDescendants(getpid(), SIGKILL);
  }

  // Drains the signalfd.
  Signals ReadSignals() {
    Signals got;
    if (!signal_fd_.valid()) return got;
    struct signalfd_siginfo si;
    while (read(signal_fd_.get(), &si, sizeof(si)) == static_cast<ssize_t>(sizeof(si))) {
      if (si.ssi_signo == SIGCHLD) {
        got.child = true;
      } else {
        got.kill = true;
      }
    }
    return got;
  }

  static void SignalGroup(pid_t pgid, int sig) {
    // Right after fork the child may not have called setsid yet; then signal it directly.
    if (kill(-pgid, sig) != 0 && errno == ESRCH) kill(pgid, sig);
  }

  // A cgroup of its own for the job, when the engine found cgroup v2 usable; otherwise the
  // process group and subreaper have to do.
  void MakeCgroup() {
    if (spec_.cgroup_parent.empty()) return;
    absl::StatusOr<JobCgroup> cg =
        JobCgroup::Create(absl::StrCat(spec_.cgroup_parent, "/", jid_, ".", getpid()));
    if (!cg.ok()) {
      Log(absl::StrCat("no cgroup for the job, using its process group only: ",
                       cg.status().message()));
      return;
    }
    // Recorded so that cleanup can remove a cgroup a daemon kept alive past the shim.
    absl::Status st =
        WriteFileAtomic(paths_.cgroup, cg->dir() + "\n", 0600, Durability::kCrashSafe);
    if (!st.ok()) Log(st.ToString());
    cgroup_.emplace(std::move(*cg));
  }

  void RemoveCgroup(Ending ending) {
    if (!cgroup_) return;
    absl::Status st = cgroup_->Remove();
    // After a normal exit a daemon may still live in it; it stays until cleanup.
    if (!st.ok() && ending != Ending::kNormal) Log(st.ToString());
  }

  void ReadOutput(const std::string& path, std::string* data, bool* truncated) {
    absl::StatusOr<std::string> out = ReadFilePrefix(path, spec_.max_inline_output, truncated);
    if (out.ok()) {
      *data = std::move(*out);
    } else {
      Log(out.status().ToString());
    }
  }

  int Finish(nlohmann::json result, Ending ending) {
    if (!result.is_object()) result = nlohmann::json::object();
    if (ending == Ending::kTimedOut) {
      result["failed"] = true;
      result["msg"] = "Timeout exceeded";
      result["timed_out"] = true;
    } else if (ending == Ending::kKilled) {
      result["failed"] = true;
      result["msg"] = "Job killed";
      result["killed"] = true;
    }
    if (!result.contains("failed")) result["failed"] = false;
    MarkFinished(jid_, &result);
    absl::Status st = WriteJsonFileAtomic(paths_.status, result);
    if (absl::IsResourceExhausted(st)) {
      // Space may have been freed meanwhile (a cleanup, another job's temp file); one more try.
      st = WriteJsonFileAtomic(paths_.status, result);
    }
    if (!st.ok()) {
      Log(st.ToString());
      return absl::IsResourceExhausted(st) ? kShimExitSpoolFull : 1;
    }
    return 0;
  }

  int Fail(const std::string& msg) {
    Log(msg);
    return Finish(nlohmann::json{{"failed", true}, {"changed", false}, {"msg", msg}},
                  Ending::kNormal);
  }

  static void Log(const std::string& msg) {
    std::string line = absl::StrCat("tachyon-shim[", getpid(), "]: ", msg, "\n");
    (void)!write(2, line.data(), line.size());
  }

  JobPaths paths_;
  ShimSpec spec_;
  std::string jid_;
  const Clock& clock_;
  UniqueFd signal_fd_;
  std::optional<JobCgroup> cgroup_;
  UniqueFd host_lock_;  // held from before Prepare until the shim exits
  pid_t child_pid_ = -1;
  std::optional<siginfo_t> child_info_;            // set once the child is reaped
  std::optional<absl::Duration> child_exit_mono_;  // when it was reaped
};

}  // namespace

int ShimMain(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s JOB_DIR\n", argc > 0 ? argv[0] : "shim");
    return 2;
  }
  char* real = realpath(argv[argc - 1], nullptr);
  if (real == nullptr) {
    std::fprintf(stderr, "shim: %s: %s\n", argv[argc - 1], std::strerror(errno));
    return 2;
  }
  std::string job_dir(real);
  std::free(real);
  return Shim(std::move(job_dir), RealClock()).Run();
}

}  // namespace tachyon::jobs
