// A job's child starts inside the job's cgroup: created there by clone3(CLONE_INTO_CGROUP) where
// the kernel allows it, moved there by the child itself otherwise. Skipped where this process
// cannot make cgroups (no cgroup2 mount, or not delegated to us).

#include "agent/jobs/cgroup.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "agent/jobs/process.h"
#include "common/fs.h"

namespace tachyon::jobs {
namespace {

// The cgroup (the "0::" line of /proc/PID/cgroup) of a stopped child, after which it is reaped.
std::string CgroupOfChild(int cgroup_dir_fd, int procs_fd, bool* in_cgroup) {
  int ready[2];
  if (pipe(ready) != 0) return "pipe failed";
  pid_t pid = ForkIntoCgroup(cgroup_dir_fd, in_cgroup);
  if (pid == 0) {
    if (!*in_cgroup && procs_fd >= 0) (void)!write(procs_fd, "0", 1);
    close(ready[0]);
    (void)!write(ready[1], "x", 1);
    pause();  // until killed
    _exit(0);
  }
  close(ready[1]);
  char c;
  (void)!read(ready[0], &c, 1);  // the child has joined, whichever way
  close(ready[0]);
  absl::StatusOr<std::string> cg = ReadFile(absl::StrCat("/proc/", pid, "/cgroup"));
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return cg.ok() ? *cg : std::string(cg.status().message());
}

TEST(CgroupTest, ChildStartsInTheJobCgroup) {
  absl::StatusOr<std::string> parent = PrepareJobCgroupParent();
  if (!parent.ok()) GTEST_SKIP() << "no usable cgroup2 here: " << parent.status();
  std::string name = absl::StrCat("cgroup-test.", getpid());
  absl::StatusOr<JobCgroup> cg = JobCgroup::Create(*parent + "/" + name);
  ASSERT_TRUE(cg.ok()) << cg.status();

  bool in_cgroup = false;
  std::string got = CgroupOfChild(cg->dir_fd(), cg->procs_fd(), &in_cgroup);
  EXPECT_NE(got.find("/tachyon-jobs/" + name + "\n"), std::string::npos) << got;
  // Debian 12's kernel (6.1) and newer have clone3 with CLONE_INTO_CGROUP.
  EXPECT_TRUE(in_cgroup) << "fell back to fork + cgroup.procs";

  // Without a cgroup fd it is a plain fork: the child stays where we are.
  got = CgroupOfChild(-1, -1, &in_cgroup);
  EXPECT_FALSE(in_cgroup);
  EXPECT_EQ(got.find("/tachyon-jobs/" + name), std::string::npos) << got;

  cg->CloseChildFds();
  EXPECT_TRUE(cg->Remove().ok());
}

}  // namespace
}  // namespace tachyon::jobs
