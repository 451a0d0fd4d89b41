#include "agent/jobs/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/sched.h>  // struct clone_args, CLONE_INTO_CGROUP
#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <map>
#include <set>

#include "absl/strings/numbers.h"
#include "common/fs.h"

extern char** environ;

namespace tachyon::jobs {

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) Reset(std::exchange(other.fd_, -1));
  return *this;
}

void UniqueFd::Reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

absl::StatusOr<UniqueFd> PidfdOpen(pid_t pid) {
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return ErrnoStatus(errno, "pidfd_open " + std::to_string(pid));
  // pidfd_open sets O_CLOEXEC itself.
  return UniqueFd(fd);
}

absl::Status PidfdSendSignal(int pidfd, int sig) {
  if (::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) != 0) {
    if (errno == ESRCH) return absl::OkStatus();  // already exited: nothing left to signal
    return ErrnoStatus(errno, "pidfd_send_signal");
  }
  return absl::OkStatus();
}

bool PidfdExited(int pidfd) {
  struct pollfd p = {pidfd, POLLIN, 0};
  int rc;
  do {
    rc = ::poll(&p, 1, 0);
  } while (rc < 0 && errno == EINTR);
  return rc > 0;
}

pid_t ForkIntoCgroup(int cgroup_dir_fd, bool* in_cgroup) {
  *in_cgroup = false;
#if defined(CLONE_INTO_CGROUP) && defined(SYS_clone3)
  if (cgroup_dir_fd >= 0) {
    struct clone_args args = {};
    args.flags = CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = static_cast<uint64_t>(cgroup_dir_fd);
    long pid = ::syscall(SYS_clone3, &args, sizeof(args));
    if (pid >= 0) {
      *in_cgroup = true;
      return static_cast<pid_t>(pid);
    }
    // ENOSYS, E2BIG or EINVAL (older kernels), or a cgroup the kernel refuses: fork and move.
  }
#else
  (void)cgroup_dir_fd;
#endif
  return ::fork();
}

void CloseFdsFrom(int low, int keep) {
  auto close_range = [](unsigned first, unsigned last) {
    if (first > last) return;
    if (::syscall(SYS_close_range, first, last, 0) == 0) return;
    // Kernels without close_range: bounded by the fd limit, still async-signal-safe.
    long max = ::sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536) max = 65536;
    for (unsigned fd = first; fd <= last && fd < static_cast<unsigned>(max); ++fd) ::close(fd);
  };
  if (keep >= low) {
    close_range(static_cast<unsigned>(low), static_cast<unsigned>(keep) - 1);
    close_range(static_cast<unsigned>(keep) + 1, UINT_MAX);
  } else {
    close_range(static_cast<unsigned>(low), UINT_MAX);
  }
}

absl::StatusOr<pid_t> SpawnProcess(const std::vector<std::string>& argv,
                                   const std::string& log_path, const sigset_t& blocked) {
  if (argv.empty()) return absl::InvalidArgumentError("empty argv");
  std::vector<char*> cargv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  UniqueFd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (null_fd.get() < 0) return ErrnoStatus(errno, "open /dev/null");
  UniqueFd log_fd(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (log_fd.get() < 0) return ErrnoStatus(errno, "open " + log_path);
  // posix_spawn rather than fork: glibc creates the child with CLONE_VM | CLONE_VFORK, so the
  // caller's page tables are not copied (for the agent, with gRPC's threads and ~60 shared
  // objects mapped, that copy and its teardown at exec were ~1.6 ms of CPU per job), and an
  // exec failure comes back as its errno.
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  if (int rc = posix_spawn_file_actions_init(&actions); rc != 0) {
    return ErrnoStatus(rc, "posix_spawn_file_actions_init");
  }
  if (int rc = posix_spawnattr_init(&attr); rc != 0) {
    posix_spawn_file_actions_destroy(&actions);
    return ErrnoStatus(rc, "posix_spawnattr_init");
  }
  int rc = posix_spawn_file_actions_adddup2(&actions, null_fd.get(), 0);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, log_fd.get(), 1);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, log_fd.get(), 2);
  // Whatever the caller holds without O_CLOEXEC stays out of the child too.
  if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  if (rc == 0) rc = posix_spawnattr_setsigmask(&attr, &blocked);
  if (rc == 0) rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  const int spawn_rc =
      rc == 0 ? ::posix_spawn(&pid, cargv[0], &actions, &attr, cargv.data(), environ) : 0;
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return ErrnoStatus(rc, "posix_spawn setup");
  if (spawn_rc != 0) return ErrnoStatus(spawn_rc, "exec " + argv[0]);
  return pid;
}

absl::Duration MonotonicNow() {
  struct timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return absl::DurationFromTimespec(ts);
}

namespace {

// Parent pid and state letter from /proc/PID/stat; false if the process is gone. The command
// name (field 2) may contain blanks and parentheses, hence the search from the last ')'.
bool ReadProcStat(pid_t pid, pid_t* ppid, char* state) {
  absl::StatusOr<std::string> stat = ReadFile("/proc/" + std::to_string(pid) + "/stat", 4096);
  if (!stat.ok()) return false;
  size_t paren = stat->rfind(')');
  if (paren == std::string::npos || paren + 4 > stat->size()) return false;
  *state = (*stat)[paren + 2];
  size_t end = stat->find(' ', paren + 4);
  int parent = 0;
  if (!absl::SimpleAtoi(stat->substr(paren + 4, end - (paren + 4)), &parent)) return false;
  *ppid = parent;
  return true;
}

}  // namespace

std::vector<pid_t> ListDescendants(pid_t root) {
  std::multimap<pid_t, pid_t> children;  // ppid -> pid, live processes only
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) return {};
  while (struct dirent* ent = ::readdir(dir)) {
    int pid = 0;
    if (!absl::SimpleAtoi(ent->d_name, &pid) || pid <= 0) continue;
    pid_t ppid;
    char state;
    if (ReadProcStat(pid, &ppid, &state) && state != 'Z' && state != 'X') {
      children.emplace(ppid, pid);
    }
  }
  ::closedir(dir);
  std::vector<pid_t> out;
  std::vector<pid_t> frontier = {root};
  std::set<pid_t> seen = {root};
  while (!frontier.empty()) {
    pid_t parent = frontier.back();
    frontier.pop_back();
    auto [begin, end] = children.equal_range(parent);
    for (auto it = begin; it != end; ++it) {
      if (!seen.insert(it->second).second) continue;
      out.push_back(it->second);
      frontier.push_back(it->second);
    }
  }
  return out;
}

int SignalDescendants(pid_t root, int sig) {
  std::vector<pid_t> pids = ListDescendants(root);
  std::set<pid_t> family(pids.begin(), pids.end());
  family.insert(root);
  int signalled = 0;
  for (pid_t pid : pids) {
    absl::StatusOr<UniqueFd> pidfd = PidfdOpen(pid);
    if (!pidfd.ok()) continue;  // already gone
    pid_t ppid;
    char state;
    // With the pidfd held the pid cannot be reused; if its parent is still one of ours (or
    // it was reparented to root, the subreaper), it is still the process we listed.
    if (!ReadProcStat(pid, &ppid, &state) || family.count(ppid) == 0) continue;
    if (PidfdSendSignal(pidfd->get(), sig).ok()) ++signalled;
  }
  return signalled;
}

std::vector<std::string> ProcessCmdline(pid_t pid) {
  absl::StatusOr<std::string> raw = ReadFile("/proc/" + std::to_string(pid) + "/cmdline", 1 << 20);
  std::vector<std::string> out;
  if (!raw.ok()) return out;
  size_t start = 0;
  while (start < raw->size()) {
    size_t end = raw->find('\0', start);
    if (end == std::string::npos) end = raw->size();
    out.push_back(raw->substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace tachyon::jobs
