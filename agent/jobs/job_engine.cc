// The engine side of the job engine: accepts jobs, starts one shim per job, and watches all
// shims from a single thread. That thread polls the shims' pidfds, an eventfd for wakeups, an
// inotify fd (IN_MODIFY on running jobs' stdout/stderr, for live output) and a timerfd (the
// periodic retention sweep); nothing in it sleeps or polls files on a timer. The shims do the
// real work (see shim.cc); the engine only reads what they leave in the spool.

#include "agent/jobs/job_engine.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
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
#include "agent/jobs/cgroup.h"
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

// The most one kOutput event carries.
constexpr size_t kLiveChunk = 64u << 10;
// The retention sweep runs this often (and at Create), or every `retention` if shorter.
constexpr absl::Duration kSweepInterval = absl::Hours(1);

JobEvent MakeEvent(JobEvent::Kind kind, std::string jid, JobState state, nlohmann::json result) {
  JobEvent e;
  e.kind = kind;
  e.jid = std::move(jid);
  e.state = state;
  e.result = std::move(result);
  return e;
}

// mtime of `path` as absl::Time, or nullopt if it does not exist.
std::optional<absl::Time> ModTime(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return absl::TimeFromTimespec(st.st_mtim);
}

// Creates `path` empty if it does not exist (never truncates).
absl::Status TouchFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(errno, "create " + path);
  ::close(fd);
  return absl::OkStatus();
}

class JobEngineImpl : public JobEngine {
 public:
  JobEngineImpl(Options options, EventCallback on_event, UniqueFd wake_fd, UniqueFd inotify_fd,
                UniqueFd timer_fd, std::string cgroup_parent)
      : options_(std::move(options)),
        on_event_(std::move(on_event)),
        wake_fd_(std::move(wake_fd)),
        inotify_fd_(std::move(inotify_fd)),
        timer_fd_(std::move(timer_fd)),
        cgroup_parent_(std::move(cgroup_parent)) {}

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
    SweepRetention();
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
      return SpoolError(spec.jid, ErrnoStatus(errno, "mkdir " + paths.dir));
    }
    ShimSpec shim_spec;
    shim_spec.job = spec;
    shim_spec.kill_grace_ms = absl::ToInt64Milliseconds(options_.kill_grace);
    shim_spec.max_inline_output = options_.max_inline_output;
    shim_spec.max_stored_output = options_.max_stored_output;
    shim_spec.cgroup_parent = cgroup_parent_;
    absl::Status st = WriteJsonFileAtomic(paths.spec, ShimSpecToJson(shim_spec));
    // The output files exist from the start so that live output can watch them at once.
    if (st.ok()) st = TouchFile(paths.stdout_path);
    if (st.ok()) st = TouchFile(paths.stderr_path);
    if (!st.ok()) {
      // Release the claim so that a retry can run the job.
      RemoveTree(paths.dir).IgnoreError();
      return SpoolError(spec.jid, st);
    }
    absl::StatusOr<Shim> shim = Launch(spec.jid, paths);
    if (!shim.ok()) {
      RemoveTree(paths.dir).IgnoreError();
      return shim.status();
    }
    running_.emplace(spec.jid, std::move(*shim));
    pending_events_.push_back(
        MakeEvent(JobEvent::Kind::kStarted, spec.jid, JobState::kRunning, RunningResult(spec.jid)));
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
    return RemoveJobData(jid);
  }

  absl::StatusOr<nlohmann::json> Status(const std::string& jid) const override {
    if (!IsValidJid(jid)) return absl::NotFoundError(absl::StrCat("unknown job '", jid, "'"));
    JobPaths paths(JobDir(jid));
    absl::MutexLock lock(&mu_);
    absl::StatusOr<nlohmann::json> status = ReadJsonFile(paths.status);
    if (status.ok() && IsFinal(JobStateFromResult(*status))) return status;
    if (!PathExists(paths.dir)) return absl::NotFoundError(absl::StrCat("unknown job '", jid, "'"));
    // Accepted, but the shim has not written its final status (or not even its first) yet.
    if (running_.count(jid) != 0) return RunningResult(jid);
    // No shim and no final result: the job was reported lost, but the spool could not take
    // that result (a full disk).
    return LostResult(jid);
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
    // Where live output starts: 0 for a job this engine started; for a re-adopted one, the
    // size of its stdout/stderr when it was adopted.
    uint64_t live_start[2] = {0, 0};
  };

  // Live output of one stream of a running job. Engine thread only.
  struct LiveStream {
    const char* name;  // "stdout" | "stderr"
    std::string path;
    int wd = -1;          // inotify watch, -1 when not (or no longer) watched
    uint64_t offset = 0;  // next byte of the file to send
    uint64_t sent = 0;    // bytes sent so far, against max_live_output
  };
  struct LiveJob {
    LiveStream streams[2];
  };

  // A spool write that failed; a full disk is said so plainly.
  static absl::Status SpoolError(const std::string& jid, const absl::Status& st) {
    if (absl::IsResourceExhausted(st)) {
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot accept job ", jid, ": the spool is full: ", st.message()));
    }
    return st;
  }

  // Removes a job's spool directory and its cgroup, if the shim made one and it is empty.
  absl::Status RemoveJobData(const std::string& jid) {
    JobPaths paths(JobDir(jid));
    absl::StatusOr<std::string> cgroup = ReadFile(paths.cgroup, 4096);
    if (cgroup.ok()) {
      std::string dir(absl::StripAsciiWhitespace(*cgroup));
      if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) {
        TLOG(Warning) << "job " << jid << ": " << ErrnoStatus(errno, "rmdir " + dir);
      }
    }
    return RemoveTree(paths.dir);
  }

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
        const std::string* files[2] = {&paths.stdout_path, &paths.stderr_path};
        for (int i = 0; i < 2; ++i) {
          struct stat st;
          if (::stat(files[i]->c_str(), &st) == 0) {
            shim->live_start[i] = static_cast<uint64_t>(st.st_size);
          }
        }
        running_.emplace(jid, std::move(*shim));
        continue;
      }
      // The shim may have finished between the two looks.
      status = ReadJsonFile(paths.status);
      if (status.ok() && IsFinal(JobStateFromResult(*status))) {
        QueueFinished(jid, *status);
        continue;
      }
      nlohmann::json lost = MarkLost(jid, paths, "job shim died without a result");
      // Reported lost before, when the lost result itself could not be stored (full disk).
      if (PathExists(paths.reported)) continue;
      QueueFinished(jid, std::move(lost));
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

  nlohmann::json MarkLost(const std::string& jid, const JobPaths& paths, const std::string& msg) {
    nlohmann::json lost = LostResult(jid);
    lost["msg"] = msg;
    absl::Status st = WriteJsonFileAtomic(paths.status, lost);
    if (!st.ok()) {
      TLOG(Warning) << "job " << jid << ": cannot record lost result: " << st;
    }
    return lost;
  }

  void QueueFinished(const std::string& jid, nlohmann::json result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    JobState state = JobStateFromResult(result);
    pending_events_.push_back(MakeEvent(JobEvent::Kind::kFinished, jid, state, std::move(result)));
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
    struct Running {
      std::string jid;
      uint64_t live_start[2];
    };
    std::vector<Running> running;
    constexpr size_t kFixed = 3;  // wake, inotify, timer; then one pidfd per running job
    while (true) {
      std::deque<JobEvent> events;
      fds.clear();
      running.clear();
      fds.push_back({wake_fd_.get(), POLLIN, 0});
      fds.push_back({inotify_fd_.get(), POLLIN, 0});
      fds.push_back({timer_fd_.get(), POLLIN, 0});
      {
        absl::MutexLock lock(&mu_);
        if (stopping_) break;
        // Events are taken in the same critical section as the pidfds: a job's kStarted is
        // always emitted before its pidfd is watched, hence before its kFinished.
        events.swap(pending_events_);
        for (const auto& [jid, shim] : running_) {
          fds.push_back({shim.pidfd.get(), POLLIN, 0});
          running.push_back({jid, {shim.live_start[0], shim.live_start[1]}});
        }
      }
      for (const JobEvent& e : events) Emit(e);
      // After kStarted: live output of a job never precedes its start.
      for (const Running& r : running) {
        if (live_.count(r.jid) == 0) StartLive(r.jid, r.live_start);
      }
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
      if (fds[1].revents != 0) OnInotify();
      if (fds[2].revents != 0) {
        uint64_t expirations;
        (void)!::read(timer_fd_.get(), &expirations, sizeof(expirations));
        SweepRetention();
      }
      for (size_t i = kFixed; i < fds.size(); ++i) {
        if (fds[i].revents != 0) OnShimExit(running[i - kFixed].jid);
      }
    }
    // The engine stops; the shims go on. A later engine picks up their output from there.
    for (auto& [jid, live] : live_) StopLive(&live);
    live_.clear();
  }

  // Live output: starts watching a running job's stdout/stderr from `start`: byte 0 for a job
  // this engine started, where the files were at adoption for a re-adopted one (what came
  // before was sent by the previous engine, and is in the final result anyway).
  void StartLive(const std::string& jid, const uint64_t start[2]) {
    LiveJob& live = live_[jid];
    JobPaths paths(JobDir(jid));
    live.streams[0].name = "stdout";
    live.streams[0].path = paths.stdout_path;
    live.streams[1].name = "stderr";
    live.streams[1].path = paths.stderr_path;
    if (options_.max_live_output == 0) return;
    for (int i = 0; i < 2; ++i) {
      LiveStream& stream = live.streams[i];
      // An adopted job from before live output may lack the files; the shim opens them with
      // O_APPEND, so creating them here changes nothing for it.
      TouchFile(stream.path).IgnoreError();
      stream.wd = ::inotify_add_watch(inotify_fd_.get(), stream.path.c_str(), IN_MODIFY);
      if (stream.wd < 0) {
        TLOG(Warning) << "job " << jid << ": no live " << stream.name << ": "
                      << ErrnoStatus(errno, "inotify_add_watch " + stream.path);
        continue;
      }
      watches_[stream.wd] = {jid, i};
      stream.offset = start[i];
      // Watch first, then read: whatever was written before the watch existed is sent now,
      // whatever comes after raises IN_MODIFY.
      ReadLive(jid, &stream);
    }
  }

  void StopLive(LiveJob* live) {
    for (LiveStream& stream : live->streams) {
      if (stream.wd < 0) continue;
      ::inotify_rm_watch(inotify_fd_.get(), stream.wd);
      watches_.erase(stream.wd);
      stream.wd = -1;
    }
  }

  void OnInotify() {
    // Enough for many events; IN_MODIFY events of one file coalesce while unread.
    alignas(struct inotify_event) char buf[16384];
    while (true) {
      ssize_t n = ::read(inotify_fd_.get(), buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // EAGAIN: all read
      for (ssize_t off = 0; off < n;) {
        const auto* ev = reinterpret_cast<const struct inotify_event*>(buf + off);
        off += static_cast<ssize_t>(sizeof(struct inotify_event) + ev->len);
        auto it = watches_.find(ev->wd);
        if (it == watches_.end()) continue;
        auto [jid, index] = it->second;
        if (ev->mask & IN_IGNORED) {  // the file went away (a cleanup); the kernel dropped it
          live_[jid].streams[index].wd = -1;
          watches_.erase(it);
          continue;
        }
        if (ev->mask & IN_MODIFY) ReadLive(jid, &live_[jid].streams[index]);
      }
    }
  }

  // Sends what `stream` has beyond its offset, up to the job's live budget, in kOutput events
  // of at most kLiveChunk. At the budget the watch goes: nothing more will be sent.
  void ReadLive(const std::string& jid, LiveStream* stream) {
    if (stream->sent >= options_.max_live_output) return;
    UniqueFd fd(::open(stream->path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return;
    std::string buf;
    while (stream->sent < options_.max_live_output) {
      size_t want = static_cast<size_t>(
          std::min<uint64_t>(kLiveChunk, options_.max_live_output - stream->sent));
      buf.resize(want);
      ssize_t n = ::pread(fd.get(), buf.data(), want, static_cast<off_t>(stream->offset));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      buf.resize(static_cast<size_t>(n));
      JobEvent e = MakeEvent(JobEvent::Kind::kOutput, jid, JobState::kRunning, nullptr);
      e.stream = stream->name;
      e.offset = stream->offset;
      e.data = std::move(buf);
      buf.clear();
      stream->offset += static_cast<uint64_t>(n);
      stream->sent += static_cast<uint64_t>(n);
      on_event_(e);
    }
    if (stream->sent >= options_.max_live_output && stream->wd >= 0) {
      ::inotify_rm_watch(inotify_fd_.get(), stream->wd);
      watches_.erase(stream->wd);
      stream->wd = -1;
    }
  }

  // Removes finished, reported jobs whose result and report are older than the retention.
  // Under the lock: a Cleanup or Submit of the same jid waits for it.
  void SweepRetention() {
    absl::MutexLock lock(&mu_);
    absl::Time cutoff = absl::Now() - options_.retention;
    int removed = 0;
    for (const std::string& jid : ListSpool()) {
      if (running_.count(jid) != 0) continue;
      JobPaths paths(JobDir(jid));
      std::optional<absl::Time> reported = ModTime(paths.reported);
      std::optional<absl::Time> status_time = ModTime(paths.status);
      if (!reported || !status_time || *reported > cutoff || *status_time > cutoff) continue;
      absl::StatusOr<nlohmann::json> status = ReadJsonFile(paths.status);
      // A lost job whose result could not be stored still counts: it was reported.
      if (status.ok() && !IsFinal(JobStateFromResult(*status)) && FindLiveShim(paths)) continue;
      absl::Status st = RemoveJobData(jid);
      if (st.ok()) {
        ++removed;
      } else {
        TLOG(Warning) << "job " << jid << ": retention: " << st;
      }
    }
    if (removed > 0) TLOG(Info) << "retention: removed " << removed << " finished job(s)";
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
    bool spool_full = false;
    if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(shim.pidfd.get()), &info,
                 wait_flags) != 0) {
      if (shim.is_child) {
        TLOG(Warning) << "job " << jid << ": " << ErrnoStatus(errno, "waitid");
      }
    } else if (info.si_pid != 0) {
      spool_full = info.si_code == CLD_EXITED && info.si_status == kShimExitSpoolFull;
      if (info.si_code != CLD_EXITED || info.si_status != 0) {
        TLOG(Warning) << "job " << jid << ": shim pid " << shim.pid
                      << (info.si_code == CLD_EXITED ? " exited with " : " killed by signal ")
                      << info.si_status;
      }
    }
    // The last of the live output, before the result; then the watches go.
    auto live = live_.find(jid);
    if (live != live_.end()) {
      for (LiveStream& stream : live->second.streams) {
        if (stream.wd >= 0) ReadLive(jid, &stream);
      }
      StopLive(&live->second);
      live_.erase(live);
    }
    JobPaths paths(JobDir(jid));
    absl::StatusOr<nlohmann::json> status = ReadJsonFile(paths.status);
    nlohmann::json result;
    if (status.ok() && IsFinal(JobStateFromResult(*status))) {
      result = std::move(*status);
    } else if (spool_full) {
      result = MarkLost(jid, paths,
                        absl::StrCat("job shim could not write its result: the spool is full "
                                     "(no space left on device in ",
                                     options_.spool_dir, ")"));
    } else {
      result = MarkLost(jid, paths, "job shim died without a result");
    }
    if (shim.cleanup_requested) {
      // Before the event, so that whoever asked for the cleanup finds it done when told.
      absl::MutexLock lock(&mu_);
      absl::Status st = RemoveJobData(jid);
      if (!st.ok()) {
        TLOG(Warning) << "job " << jid << ": cleanup: " << st;
      }
    }
    JobState state = JobStateFromResult(result);
    Emit(MakeEvent(JobEvent::Kind::kFinished, jid, state, std::move(result)));
  }

  const Options options_;
  const EventCallback on_event_;
  const UniqueFd wake_fd_;
  const UniqueFd inotify_fd_;
  const UniqueFd timer_fd_;
  const std::string cgroup_parent_;  // empty: no cgroups (see cgroup.h)
  mutable absl::Mutex mu_;
  std::map<std::string, Shim> running_ ABSL_GUARDED_BY(mu_);
  std::deque<JobEvent> pending_events_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Live output state, touched only by the engine thread.
  std::map<std::string, LiveJob> live_;
  std::map<int, std::pair<std::string, int>> watches_;  // wd -> (jid, stream index)
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
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake.valid()) return ErrnoStatus(errno, "eventfd");
  UniqueFd inotify(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (!inotify.valid()) return ErrnoStatus(errno, "inotify_init1");
  // The retention sweep's clock: CLOCK_MONOTONIC, so a wall clock step neither skips nor
  // bunches sweeps.
  UniqueFd timer(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  if (!timer.valid()) return ErrnoStatus(errno, "timerfd_create");
  absl::Duration every = std::max(absl::Seconds(1), std::min(kSweepInterval, options.retention));
  struct itimerspec spec = {};
  spec.it_interval = absl::ToTimespec(every);
  spec.it_value = spec.it_interval;
  if (::timerfd_settime(timer.get(), 0, &spec, nullptr) != 0) {
    return ErrnoStatus(errno, "timerfd_settime");
  }
  std::string cgroup_parent;
  if (options.use_cgroup) {
    absl::StatusOr<std::string> parent = PrepareJobCgroupParent();
    if (parent.ok()) {
      cgroup_parent = std::move(*parent);
      TLOG(Info) << "jobs run in their own cgroups under " << cgroup_parent;
    } else {
      TLOG(Info) << "jobs are contained by process group and subreaper only (no usable "
                    "cgroup v2: "
                 << parent.status().message() << ")";
    }
  }
  auto engine = std::make_unique<JobEngineImpl>(std::move(options), std::move(on_event),
                                                std::move(wake), std::move(inotify),
                                                std::move(timer), std::move(cgroup_parent));
  engine->Start();
  return engine;
}

}  // namespace tachyon::jobs
