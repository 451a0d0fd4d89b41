#include "controller/rollout/controller_files.h"

#include <sys/stat.h>

#include <climits>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/fs.h"

namespace tachyon::rollout {
namespace {

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string RealPath(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) return "";
  return buf;
}

bool Inside(const std::string& path, const std::string& root) {
  return path == root || (path.size() > root.size() && path.compare(0, root.size(), root) == 0 &&
                          path[root.size()] == '/');
}

}  // namespace

std::vector<std::string> ControllerSearchPath(const std::string& subdir, const Role* role,
                                              const std::string& task_file,
                                              const std::string& play_base_dir) {
  std::vector<std::string> out;
  auto add = [&](const std::string& dir) {
    if (dir.empty()) return;
    for (const auto& d : out) {
      if (d == dir) return;
    }
    out.push_back(dir);
  };
  if (role != nullptr) {
    add(absl::StrCat(role->path, "/", subdir));
    add(role->path);
    add(absl::StrCat(role->path, "/tasks/", subdir));
    add(absl::StrCat(role->path, "/tasks"));
  }
  if (!task_file.empty()) {
    add(absl::StrCat(DirName(task_file), "/", subdir));
    add(DirName(task_file));
  }
  add(absl::StrCat(play_base_dir, "/", subdir));
  add(play_base_dir);
  return out;
}

absl::StatusOr<std::string> FindControllerFile(const std::string& name,
                                               const std::vector<std::string>& search,
                                               const std::string& root) {
  std::vector<std::string> tried;
  if (!name.empty() && name[0] == '/') {
    tried.push_back(name);
  } else {
    for (const auto& dir : search) tried.push_back(absl::StrCat(dir, "/", name));
  }
  std::string real_root = root.empty() ? "" : RealPath(root);
  for (const auto& candidate : tried) {
    struct stat st;
    if (::stat(candidate.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (!root.empty()) {
      std::string real = RealPath(candidate);
      if (real.empty() || real_root.empty() || !Inside(real, real_root)) {
        return absl::PermissionDeniedError(absl::StrCat(
            "'", name,
            "' is outside the playbook directory: tachyon reads controller-side files only from "
            "the uploaded playbook directory"));
      }
    }
    return candidate;
  }
  return absl::NotFoundError(absl::StrCat("Could not find or access '", name, "'\nSearched in:\n\t",
                                          absl::StrJoin(tried, "\n\t"),
                                          " on the Ansible Controller.\nIf you are using a "
                                          "module and expect the file to exist on the remote, "
                                          "see the remote_src option"));
}

absl::StatusOr<std::string> ReadControllerFile(const std::string& path, size_t max_bytes) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "stat " + path);
  if (static_cast<size_t>(st.st_size) > max_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(path, " is ", st.st_size,
                                                     " bytes; a task may send at most ", max_bytes,
                                                     " bytes of file content to a host"));
  }
  return ReadFile(path);
}

}  // namespace tachyon::rollout
