// The job shim: one small process per job, in its own session, that owns the job's process
// group. It outlives the agent, enforces the timeout on CLOCK_MONOTONIC, turns a SIGTERM sent
// to itself into a kill of the whole group, and leaves the final result in status.json
// (temp file, fsync, rename) for whoever looks next: the engine that started it, or an engine
// that re-adopts it after a restart.
//
// Stragglers: after a timeout or a kill the shim SIGKILLs whatever is left in the job's
// process group, so grandchildren never outlive the job. After a normal exit it leaves them
// alone, as Ansible does (a task may legitimately start a daemon). Processes that start their
// own session escape the group in both cases; containing those needs a cgroup.

#include <fcntl.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/jobs/job_engine.h"
#include "agent/jobs/process.h"
#include "agent/jobs/spool.h"
#include "agent/modules/module.h"
#include "common/fs.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace tachyon::jobs {
namespace {

// How long the shim waits for a SIGKILLed child to be reaped before it writes the result
// anyway (a process stuck in uninterruptible sleep cannot be killed).
constexpr absl::Duration kReapBound = absl::Seconds(30);

enum class Ending { kNormal, kTimedOut, kKilled };

class Shim {
 public:
  // Until spec.json is read, the directory name stands in for the jid.
  explicit Shim(std::string job_dir)
      : paths_(std::move(job_dir)), jid_(paths_.dir.substr(paths_.dir.rfind('/') + 1)) {}

  int Run() {
    // Kill requests: the engine blocked these before exec, so one sent early is pending.
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    signal_fd_.Reset(signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
    // Own session: the agent's terminal or group signals never reach the job by accident.
    setsid();
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);

    absl::Status st = WriteFileAtomic(paths_.shim_pid, absl::StrCat(getpid(), "\n"), 0600);
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

    modules::Prepared prepared = module->Prepare(spec_.job.args, spec_.job.cwd);
    if (!prepared.exec) return Finish(std::move(prepared.result), Ending::kNormal);
    if (KillRequested()) return Finish(nlohmann::json{{"changed", false}}, Ending::kKilled);
    return RunProcess(*module, prepared);
  }

 private:
  int RunProcess(const modules::Module& module, const modules::Prepared& prepared) {
    const modules::ExecPlan& plan = *prepared.exec;
    if (plan.argv.empty()) return Fail("empty command");
    int out_fd = open(paths_.stdout_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int err_fd = open(paths_.stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (out_fd < 0 || err_fd < 0)
      return Fail(absl::StrCat("cannot open output files: ", strerror(errno)));
    int in_fd;
    if (plan.stdin_data) {
      // A file, not a pipe: the shim never has to feed the child.
      absl::Status st = WriteFileAtomic(paths_.stdin_path, *plan.stdin_data, 0600);
      if (!st.ok()) return Fail(std::string(st.message()));
      in_fd = open(paths_.stdin_path.c_str(), O_RDONLY | O_CLOEXEC);
    } else {
      in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    if (in_fd < 0) return Fail(absl::StrCat("cannot open stdin: ", strerror(errno)));
    int exec_pipe[2];
    if (pipe2(exec_pipe, O_CLOEXEC) != 0) return Fail(absl::StrCat("pipe2: ", strerror(errno)));

    std::vector<char*> argv;
    for (const std::string& a : plan.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);

    modules::ProcessOutcome outcome;
    outcome.start = absl::Now();
    absl::Duration mono_start = MonotonicNow();
    pid_t pid = fork();
    if (pid < 0) return Fail(absl::StrCat("fork: ", strerror(errno)));
    if (pid == 0) {
      setsid();  // own session and process group: pgid == pid
      dup2(in_fd, 0);
      dup2(out_fd, 1);
      dup2(err_fd, 2);
      for (int sig = 1; sig < NSIG; ++sig) signal(sig, SIG_DFL);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      CloseFdsFrom(3, exec_pipe[1]);
      execvp(argv[0], argv.data());
      int e = errno;
      (void)!write(exec_pipe[1], &e, sizeof(e));
      _exit(127);
    }
    close(exec_pipe[1]);
    close(in_fd);
    close(out_fd);
    close(err_fd);
    UniqueFd exec_status(exec_pipe[0]);

    absl::Status st = WriteJsonFileAtomic(paths_.status, RunningResult(jid_));
    if (!st.ok()) Log(st.ToString());

    absl::StatusOr<UniqueFd> pidfd = PidfdOpen(pid);
    if (!pidfd.ok()) {
      // Cannot happen for our own unreaped child; do not leave it running unobserved.
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      return Fail(std::string(pidfd.status().message()));
    }
    Ending ending = Wait(pid, pidfd->get(), mono_start);

    siginfo_t info = {};
    bool reaped = waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd->get()), &info,
                         WEXITED | WNOHANG) == 0 &&
                  info.si_pid != 0;
    outcome.end = absl::Now();
    outcome.elapsed = MonotonicNow() - mono_start;
    if (ending != Ending::kNormal) {
      // Whatever the child left behind in its group goes with it.
      kill(-pid, SIGKILL);
    }
    if (reaped && info.si_code == CLD_EXITED) {
      outcome.exited = true;
      outcome.exit_code = info.si_status;
    } else if (reaped) {
      outcome.term_signal = info.si_status;
    } else {
      outcome.term_signal = SIGKILL;  // gave up waiting after SIGKILL
      Log("child not reaped after SIGKILL");
    }
    int child_errno = 0;
    if (read(exec_status.get(), &child_errno, sizeof(child_errno)) ==
        static_cast<ssize_t>(sizeof(child_errno))) {
      outcome.exec_errno = child_errno;
    }
    ReadOutput(paths_.stdout_path, &outcome.stdout_data, &outcome.stdout_truncated);
    ReadOutput(paths_.stderr_path, &outcome.stderr_data, &outcome.stderr_truncated);
    return Finish(module.Finish(prepared, outcome), ending);
  }

  // Waits for the child, enforcing the timeout and serving kill requests. Every wait has a
  // deadline except the wait for a child with no timeout that nobody asked to stop.
  Ending Wait(pid_t pgid, int pidfd, absl::Duration mono_start) {
    enum class Phase { kRunning, kTerminating, kKilling } phase = Phase::kRunning;
    Ending ending = Ending::kNormal;
    absl::Duration deadline = absl::InfiniteDuration();
    if (spec_.job.timeout_seconds > 0)
      deadline = mono_start + absl::Seconds(spec_.job.timeout_seconds);
    absl::Duration grace = absl::Milliseconds(std::max<int64_t>(0, spec_.kill_grace_ms));

    auto terminate = [&](Ending why) {
      ending = why;
      SignalGroup(pgid, SIGTERM);
      phase = Phase::kTerminating;
      deadline = MonotonicNow() + grace;
    };

    while (true) {
      int timeout_ms = -1;
      if (deadline != absl::InfiniteDuration()) {
        absl::Duration left = deadline - MonotonicNow();
        timeout_ms =
            left <= absl::ZeroDuration()
                ? 0
                : static_cast<int>(std::min<int64_t>(
                      INT_MAX, absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1)))));
      }
      struct pollfd fds[2] = {{pidfd, POLLIN, 0}, {signal_fd_.get(), POLLIN, 0}};
      int n = poll(fds, signal_fd_.valid() ? 2 : 1, timeout_ms);
      if (n < 0) {
        if (errno == EINTR) continue;
        Log(absl::StrCat("poll: ", strerror(errno)));
        SignalGroup(pgid, SIGKILL);  // cannot watch it any more; do not let it run unbounded
        return ending == Ending::kNormal ? Ending::kKilled : ending;
      }
      if (fds[0].revents != 0) return ending;
      if (n > 0 && fds[1].revents != 0 && KillRequested() && phase == Phase::kRunning) {
        terminate(Ending::kKilled);
        continue;
      }
      if (MonotonicNow() < deadline) continue;
      switch (phase) {
        case Phase::kRunning:
          terminate(Ending::kTimedOut);
          break;
        case Phase::kTerminating:
          SignalGroup(pgid, SIGKILL);
          phase = Phase::kKilling;
          deadline = MonotonicNow() + kReapBound;
          break;
        case Phase::kKilling:
          return ending;
      }
    }
  }

  // Drains the signalfd; true if a kill request (SIGTERM/SIGINT) arrived.
  bool KillRequested() {
    if (!signal_fd_.valid()) return false;
    bool got = false;
    struct signalfd_siginfo si;
    while (read(signal_fd_.get(), &si, sizeof(si)) == static_cast<ssize_t>(sizeof(si))) got = true;
    return got;
  }

  static void SignalGroup(pid_t pgid, int sig) {
    // Right after fork the child may not have called setsid yet; then signal it directly.
    if (kill(-pgid, sig) != 0 && errno == ESRCH) kill(pgid, sig);
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
    if (!st.ok()) {
      Log(st.ToString());
      return 1;
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
  UniqueFd signal_fd_;
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
  return Shim(std::move(job_dir)).Run();
}

}  // namespace tachyon::jobs
