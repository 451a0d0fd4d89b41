#include "agent/jobs/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/sched.h>  // struct clone_args, CLONE_INTO_CGROUP
#include <poll.h>
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
  // Everything the child needs is prepared here: after fork in a threaded process only
  // async-signal-safe calls are allowed.
  std::vector<char*> cargv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) return ErrnoStatus(errno, "open /dev/null");
  int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) {
    int err = errno;
    ::close(null_fd);
    return ErrnoStatus(err, "open " + log_path);
  }
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    int err = errno;
    ::close(null_fd);
    ::close(log_fd);
    return ErrnoStatus(err, "pipe2");
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    ::sigprocmask(SIG_SETMASK, &blocked, nullptr);
    if (::dup2(null_fd, 0) < 0 || ::dup2(log_fd, 1) < 0 || ::dup2(log_fd, 2) < 0) {
      int e = errno;
      (void)!::write(err_pipe[1], &e, sizeof(e));
      ::_exit(127);
    }
    CloseFdsFrom(3, err_pipe[1]);
    ::execve(cargv[0], cargv.data(), environ);
    int e = errno;
    (void)!::write(err_pipe[1], &e, sizeof(e));
    ::_exit(127);
  }
  int fork_errno = errno;
  ::close(null_fd);
  ::close(log_fd);
  ::close(err_pipe[1]);
  if (pid < 0) {
    ::close(err_pipe[0]);
    return ErrnoStatus(fork_errno, "fork");
  }
  // Blocks only until the child execs or fails to: the write end is close-on-exec.
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(err_pipe[0], &child_errno, sizeof(child_errno));
  } while (n < 0 && errno == EINTR);
  ::close(err_pipe[0]);
  if (n == static_cast<ssize_t>(sizeof(child_errno))) {
    int status;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return ErrnoStatus(child_errno, "exec " + argv[0]);
  }
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
