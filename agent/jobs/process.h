#pragma once

// Process plumbing for the engine and the shim: owned fds, pidfds, spawning with a clean fd
// table, and CLOCK_MONOTONIC.

#include <signal.h>
#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tachyon::jobs {

// An owned file descriptor, closed on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

absl::StatusOr<UniqueFd> PidfdOpen(pid_t pid);
// A process that has already exited is not an error.
absl::Status PidfdSendSignal(int pidfd, int sig);
// True when the process behind `pidfd` has exited (the pidfd polls readable).
bool PidfdExited(int pidfd);

// fork(), except that with a cgroup directory fd (>= 0) the child is created inside that cgroup
// by clone3(CLONE_INTO_CGROUP) where the kernel allows it (Linux 5.7+). Joining at creation
// spares the migration that a write to cgroup.procs costs, about 10 ms per job here (it waits
// for an RCU grace period). Sets *in_cgroup, in parent and child, to whether that happened; when
// not, the child still has to join by writing "0" to cgroup.procs. Like vfork's child, the
// child may only make async-signal-safe calls before exec: glibc's fork handlers do not run.
pid_t ForkIntoCgroup(int cgroup_dir_fd, bool* in_cgroup);

// Closes every fd >= `low` except `keep` (-1: none). Async-signal-safe (for use after fork).
void CloseFdsFrom(int low, int keep = -1);

// Starts `argv` (argv[0] a path) with posix_spawn, in a child with stdin from /dev/null, stdout and
// stderr appended to `log_path`, no other fds, and the signals in `blocked` blocked (so a signal
// sent before the program installs its signalfd stays pending instead of killing it).
absl::StatusOr<pid_t> SpawnProcess(const std::vector<std::string>& argv,
                                   const std::string& log_path, const sigset_t& blocked);

// Time since boot on CLOCK_MONOTONIC: immune to wall clock jumps.
absl::Duration MonotonicNow();

// Every live (non-zombie) descendant of `root`, from one scan of /proc: children first, then
// their children, and so on. A snapshot: processes may fork or exit meanwhile.
std::vector<pid_t> ListDescendants(pid_t root);

// Sends `sig` to every live descendant of `root`; returns how many were signalled. Each pid is
// pinned with a pidfd and its parent checked again before the signal, so a pid that exited and
// was reused by an unrelated process meanwhile is not hit.
int SignalDescendants(pid_t root, int sig);

// The NUL-separated /proc/PID/cmdline, or an empty vector.
std::vector<std::string> ProcessCmdline(pid_t pid);

}  // namespace tachyon::jobs
