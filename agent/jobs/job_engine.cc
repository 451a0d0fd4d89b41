// The engine side of the job engine: accepts jobs, starts one shim per job, and watches all
// shims from a single thread that polls their pidfds (plus an eventfd for wakeups). The shims
// do the real work (see shim.cc); the engine only reads what they leave in the spool.

#include "agent/jobs/job_engine.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <deque>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "agent/jobs/process.h"
#include "agent/jobs/spool.h"
#include "agent/modules/module.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/status.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace tachyon::jobs {

const char* JobStateName(JobState state) {
  switch (state) {
    case JobState::kPending:
      return "pending";
    case JobState::kRunning:
      return "running";
    case JobState::kSucceeded:
      return "succeeded";
    case JobState::kFailed:
      return "failed";
    case JobState::kTimedOut:
      return "timed_out";
    case JobState::kKilled:
      return "killed";
    case JobState::kLost:
      return "lost";
  }
  return "unknown";
}

bool IsFinal(JobState state) { return state != JobState::kPending && state != JobState::kRunning; }

JobState JobStateFromResult(const nlohmann::json& result) {
  auto truthy = [&](const char* key) {
    auto it = result.find(key);
    if (it == result.end()) return false;
    if (it->is_boolean()) return it->get<bool>();
    if (it->is_number()) return it->get<double>() != 0;
    return false;
  };
  if (!result.is_object() || !truthy("finished")) return JobState::kRunning;
  if (truthy("killed")) return JobState::kKilled;
  if (truthy("timed_out")) return JobState::kTimedOut;
  if (truthy("lost")) return JobState::kLost;
  if (truthy("failed")) return JobState::kFailed;
  return JobState::kSucceeded;
}

namespace {

class JobEngineImpl : public JobEngine {
 public:
  JobEngineImpl(Options options, EventCallback on_event, UniqueFd wake_fd)
      : options_(std::move(options)),
        on_event_(std::move(on_event)),
        wake_fd_(std::move(wake_fd)) {}

  ~JobEngineImpl() override {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    Wake();
    if (thread_.joinable()) thread_.join();
  }

  void Start() {
    if (options_.adopt_existing) Adopt();
    thread_ = std::thread([this] { Run(); });
  }

  absl::Status Submit(const JobSpec& spec) override {
    if (!IsValidJid(spec.jid)) {
      return absl::InvalidArgumentError(absl::StrCat("invalid job id '", spec.jid, "'"));
    }
    const modules::Module* module = modules::FindModule(spec.module);
    if (module == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown module '", spec.module, "'"));
    }
    RETURN_IF_ERROR(module->Validate(spec.args));

    // The lock covers claim, spec write and launch so that Kill/Cleanup never see a job half
    // started. All of it is bounded: mkdir, one small fsynced file, fork+exec.
    absl::MutexLock lock(&mu_);
    JobPaths paths(JobDir(spec.jid));
    // mkdir is the claim: a jid whose directory exists was accepted before (idempotence),
    // whether by this engine or one before an agent restart.
    if (::mkdir(paths.dir.c_str(), 0700) != 0) {
      if (errno == EEXIST) return absl::OkStatus();
      return ErrnoStatus(errno, "mkdir " + paths.dir);
    }
    ShimSpec shim_spec;
    shim_spec.job = spec;
    shim_spec.kill_grace_ms = absl::ToInt64Milliseconds(options_.kill_grace);
    shim_spec.max_inline_output = options_.max_inline_output;
    absl::Status st = WriteJsonFileAtomic(paths.spec, ShimSpecToJson(shim_spec));
    if (!st.ok()) {
      // Release the claim so that a retry can run the job.
      RemoveTree(paths.dir).IgnoreError();
      return st;
    }
    absl::StatusOr<Shim> shim = Launch(spec.jid, paths);
    if (!shim.ok()) {
      RemoveTree(paths.dir).IgnoreError();
      return shim.status();
    }
    running_.emplace(spec.jid, std::move(*shim));
    pending_events_.push_back(
        JobEvent{JobEvent::Kind::kStarted, spec.jid, JobState::kRunning, RunningResult(spec.jid)});
    Wake();
    return absl::OkStatus();
  }

  absl::Status Kill(const std::string& jid) override {
    absl::MutexLock lock(&mu_);
    return KillLocked(jid);
  }

  absl::Status Cleanup(const std::string& jid) override {
    absl::MutexLock lock(&mu_);
    if (!IsValidJid(jid)) return absl::NotFoundError(absl::StrCat("unknown job '", jid, "'"));
    auto it = running_.find(jid);
    if (it != running_.end()) {
      // The engine thread removes the data once the shim has written its result and exited.
      it->second.cleanup_requested = true;
      return KillLocked(jid);
    }
    std::string dir = JobDir(jid);
    if (!PathExists(dir)) return absl::NotFoundError(absl::StrCat("unknown job '", jid, "'"));
    return RemoveTree(dir);
  }

  absl::StatusOr<nlohmann::json> Status(const std::string& jid) const override {
    if (!IsValidJid(jid)) return absl::NotFoundError(absl::StrCat("unknown job '", jid, "'"));
    JobPaths paths(JobDir(jid));
    absl::StatusOr<nlohmann::json> status = ReadJsonFile(paths.status);
    if (status.ok()) return status;
    if (!PathExists(paths.dir)) return absl::NotFoundError(absl::StrCat("unknown job '", jid, "'"));
    // Accepted, but the shim has not written its first status yet.
    return RunningResult(jid);
  }

  std::vector<std::string> KnownJobs() const override {
    std::vector<std::string> jids = ListSpool();
    std::sort(jids.begin(), jids.end());
    return jids;
  }

 private:
  struct Shim {
    pid_t pid = -1;
    UniqueFd pidfd;
    bool is_child = true;  // false for shims adopted after a restart: not ours to reap
    bool cleanup_requested = false;
  };

  std::string JobDir(const std::string& jid) const { return options_.spool_dir + "/" + jid; }

  std::vector<std::string> ListSpool() const {
    std::vector<std::string> jids;
    DIR* dir = ::opendir(options_.spool_dir.c_str());
    if (dir == nullptr) return jids;
    while (struct dirent* ent = ::readdir(dir)) {
      std::string name = ent->d_name;
      if (!IsValidJid(name)) continue;
      struct stat st;
      if (::stat(JobDir(name).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) jids.push_back(name);
    }
    ::closedir(dir);
    return jids;
  }

  absl::StatusOr<Shim> Launch(const std::string& jid, const JobPaths& paths) {
    std::vector<std::string> argv = options_.shim_command;
    argv.push_back(paths.dir);
    // SIGTERM is the kill request; blocked from the start, one sent before the shim has its
    // signalfd stays pending instead of killing the shim with no result.
    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGINT);
    ASSIGN_OR_RETURN(pid_t pid, SpawnProcess(argv, paths.shim_log, blocked));
    Shim shim;
    shim.pid = pid;
    absl::StatusOr<UniqueFd> pidfd = PidfdOpen(pid);
    if (!pidfd.ok()) {
      // Our own unreaped child: this cannot fail short of fd exhaustion. Do not leave it
      // running unobserved.
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      return pidfd.status();
    }
    shim.pidfd = std::move(*pidfd);
    TLOG(Debug) << "job " << jid << ": shim pid " << pid;
    return shim;
  }

  absl::Status KillLocked(const std::string& jid) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = running_.find(jid);
    if (it == running_.end()) {
      if (IsValidJid(jid) && PathExists(JobDir(jid))) return absl::OkStatus();  // already over
      return absl::NotFoundError(absl::StrCat("unknown job '", jid, "'"));
    }
    // A shim that is already exiting has its result; it will say how the job ended.
    return PidfdSendSignal(it->second.pidfd.get(), SIGTERM);
  }

  void Wake() {
    uint64_t one = 1;
    (void)!::write(wake_fd_.get(), &one, sizeof(one));
  }

  // Finds jobs left by a previous engine. Called before the thread starts.
  void Adopt() {
    absl::MutexLock lock(&mu_);
    for (const std::string& jid : ListSpool()) {
      JobPaths paths(JobDir(jid));
      absl::StatusOr<nlohmann::json> status = ReadJsonFile(paths.status);
      if (status.ok() && IsFinal(JobStateFromResult(*status))) {
        if (!PathExists(paths.reported)) QueueFinished(jid, *status);
        continue;
      }
      if (std::optional<Shim> shim = FindLiveShim(paths)) {
        TLOG(Info) << "job " << jid << ": re-adopted shim pid " << shim->pid;
        running_.emplace(jid, std::move(*shim));
        continue;
      }
      // The shim may have finished between the two looks.
      status = ReadJsonFile(paths.status);
      if (status.ok() && IsFinal(JobStateFromResult(*status))) {
        QueueFinished(jid, *status);
        continue;
      }
      QueueFinished(jid, MarkLost(jid, paths));
    }
  }

  // The shim recorded in shim.pid, if that process is alive and is really this job's shim
  // (its last argument is the job directory), as opposed to a recycled pid.
  std::optional<Shim> FindLiveShim(const JobPaths& paths) {
    absl::StatusOr<std::string> text = ReadFile(paths.shim_pid, 64);
    int pid = 0;
    if (!text.ok() || !absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &pid) || pid <= 0) {
      return std::nullopt;
    }
    absl::StatusOr<UniqueFd> pidfd = PidfdOpen(pid);
    if (!pidfd.ok()) return std::nullopt;
    std::vector<std::string> cmdline = ProcessCmdline(pid);
    // Checked after the cmdline read: while the pidfd's process lives, the pid is still its.
    if (cmdline.empty() || cmdline.back() != paths.dir || PidfdExited(pidfd->get())) {
      return std::nullopt;
    }
    Shim shim;
    shim.pid = pid;
    shim.pidfd = std::move(*pidfd);
    shim.is_child = false;
    return shim;
  }

  nlohmann::json MarkLost(const std::string& jid, const JobPaths& paths) {
    nlohmann::json lost = LostResult(jid);
    absl::Status st = WriteJsonFileAtomic(paths.status, lost);
    if (!st.ok()) {
      TLOG(Warning) << "job " << jid << ": cannot record lost result: " << st;
    }
    return lost;
  }

  void QueueFinished(const std::string& jid, nlohmann::json result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    JobState state = JobStateFromResult(result);
    pending_events_.push_back(JobEvent{JobEvent::Kind::kFinished, jid, state, std::move(result)});
  }

  void Emit(const JobEvent& event) {
    on_event_(event);
    if (event.kind == JobEvent::Kind::kFinished) {
      // Remembered so that an engine after a restart does not report it again. Under the
      // lock, so that it cannot race a Cleanup removing the directory. Not fsynced: losing it
      // costs one duplicate report, which the controller drops.
      absl::MutexLock lock(&mu_);
      JobPaths paths(JobDir(event.jid));
      if (PathExists(paths.dir)) {
        int fd = ::open(paths.reported.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0) ::close(fd);
      }
    }
  }

  void Run() {
    std::vector<struct pollfd> fds;
    std::vector<std::string> jids;  // jids[i] belongs to fds[i + 1]
    while (true) {
      std::deque<JobEvent> events;
      fds.clear();
      jids.clear();
      fds.push_back({wake_fd_.get(), POLLIN, 0});
      {
        absl::MutexLock lock(&mu_);
        if (stopping_) return;
        // Events are taken in the same critical section as the pidfds: a job's kStarted is
        // always emitted before its pidfd is watched, hence before its kFinished.
        events.swap(pending_events_);
        for (const auto& [jid, shim] : running_) {
          fds.push_back({shim.pidfd.get(), POLLIN, 0});
          jids.push_back(jid);
        }
      }
      for (const JobEvent& e : events) Emit(e);
      int n = ::poll(fds.data(), fds.size(), -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        TLOG(Error) << "job engine poll: " << ErrnoStatus(errno, "poll");
        // Not expected; fall back to a bounded pause rather than spinning.
        ::poll(nullptr, 0, 100);
        continue;
      }
      if (fds[0].revents != 0) {
        uint64_t count;
        (void)!::read(wake_fd_.get(), &count, sizeof(count));
      }
      for (size_t i = 1; i < fds.size(); ++i) {
        if (fds[i].revents != 0) OnShimExit(jids[i - 1]);
      }
    }
  }

  void OnShimExit(const std::string& jid) {
    Shim shim;
    {
      absl::MutexLock lock(&mu_);
      auto it = running_.find(jid);
      if (it == running_.end()) return;
      shim = std::move(it->second);
      running_.erase(it);
    }
    // Our own shims are reaped here. An adopted shim is normally someone else's child (the
    // previous agent's, now init's), but if this process started it (an engine recreated in
    // the same process) it is reaped too, hence the non-blocking attempt.
    siginfo_t info = {};
    int wait_flags = WEXITED | (shim.is_child ? 0 : WNOHANG);
    if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(shim.pidfd.get()), &info,
                 wait_flags) != 0) {
      if (shim.is_child) {
        TLOG(Warning) << "job " << jid << ": " << ErrnoStatus(errno, "waitid");
      }
    } else if (info.si_pid != 0) {
      if (info.si_code != CLD_EXITED || info.si_status != 0) {
        TLOG(Warning) << "job " << jid << ": shim pid " << shim.pid
                      << (info.si_code == CLD_EXITED ? " exited with " : " killed by signal ")
                      << info.si_status;
      }
    }
    JobPaths paths(JobDir(jid));
    absl::StatusOr<nlohmann::json> status = ReadJsonFile(paths.status);
    nlohmann::json result;
    if (status.ok() && IsFinal(JobStateFromResult(*status))) {
      result = std::move(*status);
    } else {
      result = MarkLost(jid, paths);
    }
    if (shim.cleanup_requested) {
      // Before the event, so that whoever asked for the cleanup finds it done when told.
      absl::Status st = RemoveTree(paths.dir);
      if (!st.ok()) {
        TLOG(Warning) << "job " << jid << ": cleanup: " << st;
      }
    }
    JobState state = JobStateFromResult(result);
    Emit(JobEvent{JobEvent::Kind::kFinished, jid, state, std::move(result)});
  }

  const Options options_;
  const EventCallback on_event_;
  const UniqueFd wake_fd_;
  mutable absl::Mutex mu_;
  std::map<std::string, Shim> running_ ABSL_GUARDED_BY(mu_);
  std::deque<JobEvent> pending_events_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<JobEngine>> JobEngine::Create(Options options,
                                                             EventCallback on_event) {
  if (options.spool_dir.empty()) return absl::InvalidArgumentError("spool_dir is empty");
  if (options.shim_command.empty()) return absl::InvalidArgumentError("shim_command is empty");
  if (!on_event) return absl::InvalidArgumentError("on_event is empty");
  RETURN_IF_ERROR(MakeDirs(options.spool_dir, 0700));
  // Shims outlive the engine and may run in another cwd: give them absolute paths.
  char* real = ::realpath(options.spool_dir.c_str(), nullptr);
  if (real == nullptr) return ErrnoStatus(errno, "realpath " + options.spool_dir);
  options.spool_dir = real;
  std::free(real);
  int wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) return ErrnoStatus(errno, "eventfd");
  auto engine =
      std::make_unique<JobEngineImpl>(std::move(options), std::move(on_event), UniqueFd(wake));
  engine->Start();
  return engine;
}

}  // namespace tachyon::jobs
