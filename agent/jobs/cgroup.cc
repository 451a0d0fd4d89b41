#include "agent/jobs/cgroup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/fs.h"
#include "common/status.h"

namespace tachyon::jobs {
namespace {

// mountinfo escapes blanks in paths as octal (\040); decode the few it can contain.
std::string UnescapeMountPath(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    bool octal = s[i] == '\\' && i + 3 < s.size();
    for (size_t k = 1; octal && k <= 3; ++k) octal = s[i + k] >= '0' && s[i + k] <= '7';
    if (octal) {
      out.push_back(
          static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

absl::Status WriteSmallFile(const std::string& path, absl::string_view data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open " + path);
  ssize_t n = ::write(fd, data.data(), data.size());
  int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(data.size())) return ErrnoStatus(err, "write " + path);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> PrepareJobCgroupParent() {
  ASSIGN_OR_RETURN(std::string mountinfo, ReadFile("/proc/self/mountinfo", 4 << 20));
  // "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS"
  std::string mount_root, mount_point;
  for (absl::string_view line : absl::StrSplit(mountinfo, '\n')) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    size_t dash = 0;
    while (dash < f.size() && f[dash] != "-") ++dash;
    if (dash < 6 || dash + 1 >= f.size() || f[dash + 1] != "cgroup2") continue;
    mount_root = UnescapeMountPath(f[3]);
    mount_point = UnescapeMountPath(f[4]);
    break;
  }
  if (mount_point.empty()) return absl::UnavailableError("no cgroup2 hierarchy is mounted");
  ASSIGN_OR_RETURN(std::string self, ReadFile("/proc/self/cgroup", 1 << 16));
  std::string own;
  bool found = false;
  for (absl::string_view line : absl::StrSplit(self, '\n')) {
    if (absl::ConsumePrefix(&line, "0::")) {
      own = std::string(line);
      found = true;
    }
  }
  if (!found) return absl::UnavailableError("this process is in no cgroup2 cgroup");
  // Our cgroup relative to the mount's root (they differ when the mount is of a subtree).
  absl::string_view rel = own;
  if (mount_root != "/" && !absl::ConsumePrefix(&rel, mount_root)) {
    return absl::UnavailableError(
        absl::StrCat("own cgroup ", own, " is outside the cgroup2 mount of ", mount_root));
  }
  std::string dir = mount_point;
  if (!rel.empty() && rel != "/") dir += std::string(rel);
  if (dir.back() != '/') dir += '/';
  dir += "tachyon-jobs";
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoStatus(errno, "mkdir " + dir);
  if (::access((dir + "/cgroup.procs").c_str(), W_OK) != 0) {
    return ErrnoStatus(errno, "access " + dir + "/cgroup.procs");
  }
  return dir;
}

absl::StatusOr<JobCgroup> JobCgroup::Create(std::string dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoStatus(errno, "mkdir " + dir);
  UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  std::string procs = dir + "/cgroup.procs";
  UniqueFd procs_fd(::open(procs.c_str(), O_WRONLY | O_CLOEXEC));
  if (!dir_fd.valid() || !procs_fd.valid()) {
    int err = errno;
    ::rmdir(dir.c_str());
    return ErrnoStatus(err, "open " + (dir_fd.valid() ? procs : dir));
  }
  return JobCgroup(std::move(dir), std::move(dir_fd), std::move(procs_fd));
}

absl::Status JobCgroup::KillAll() {
  absl::Status st = WriteSmallFile(dir_ + "/cgroup.kill", "1");
  if (st.ok() || !absl::IsNotFound(st)) return st;
  // Before Linux 5.14: kill what is listed. A process forking meanwhile may escape this one
  // pass; the shim's subreaper sweep catches it.
  ASSIGN_OR_RETURN(std::string procs, ReadFile(dir_ + "/cgroup.procs", 4 << 20));
  for (absl::string_view line : absl::StrSplit(procs, '\n', absl::SkipEmpty())) {
    int pid = 0;
    if (absl::SimpleAtoi(line, &pid) && pid > 0) ::kill(pid, SIGKILL);
  }
  return absl::OkStatus();
}

absl::Status JobCgroup::Remove() {
  if (::rmdir(dir_.c_str()) != 0 && errno != ENOENT) return ErrnoStatus(errno, "rmdir " + dir_);
  return absl::OkStatus();
}

}  // namespace tachyon::jobs
