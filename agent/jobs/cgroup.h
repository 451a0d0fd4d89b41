#pragma once

// Optional cgroup v2 containment for jobs. When a writable cgroup2 hierarchy is mounted, each
// job runs in its own cgroup under the agent's: `cgroup.kill` then stops every process the job
// started, however it detached (setsid, double fork), in one atomic step. Without one (cgroup
// v1 hosts, containers with a read-only /sys/fs/cgroup, unprivileged agents) the shim falls
// back to the job's process group plus PR_SET_CHILD_SUBREAPER, which catches the same
// processes as long as none of them makes itself a subreaper or leaves the PID namespace.
//
// Where the hierarchy is: found in /proc/self/mountinfo (fstype cgroup2), not assumed at
// /sys/fs/cgroup — on a hybrid host (systemd's "unified" mode) it is /sys/fs/cgroup/unified.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/jobs/process.h"

namespace tachyon::jobs {

// The directory under which job cgroups go: `<cgroup2 mount>/<our own cgroup>/tachyon-jobs`,
// created if needed. An error (Unavailable when there is no cgroup2 mount, else why the
// directory cannot be made) means: use the fallback.
absl::StatusOr<std::string> PrepareJobCgroupParent();

// One job's cgroup, owned by the shim. The shim itself stays outside it, so killing the
// cgroup never kills the shim.
class JobCgroup {
 public:
  // mkdir `dir` and open it and its cgroup.procs, for the child to start in or join.
  static absl::StatusOr<JobCgroup> Create(std::string dir);

  const std::string& dir() const { return dir_; }
  // The cgroup's directory, for clone3(CLONE_INTO_CGROUP): the child starts inside.
  int dir_fd() const { return dir_fd_.get(); }
  // Where clone3 cannot do that: write "0" here (async-signal-safe) between fork and exec to
  // move the child in before it can start anything.
  int procs_fd() const { return procs_fd_.get(); }
  // Both fds, once the child is started.
  void CloseChildFds() {
    dir_fd_.Reset();
    procs_fd_.Reset();
  }
  // SIGKILLs every process in the cgroup: cgroup.kill (Linux 5.14+), else each pid listed in
  // cgroup.procs.
  absl::Status KillAll();
  // rmdir; fails with EBUSY while processes remain (a daemon left after a normal exit).
  absl::Status Remove();

 private:
  JobCgroup(std::string dir, UniqueFd dir_fd, UniqueFd procs_fd)
      : dir_(std::move(dir)), dir_fd_(std::move(dir_fd)), procs_fd_(std::move(procs_fd)) {}

  std::string dir_;
  UniqueFd dir_fd_;
  UniqueFd procs_fd_;
};

}  // namespace tachyon::jobs
