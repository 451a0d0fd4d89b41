#include "controller/rollout/controller_files.h"

#include <sys/stat.h>

#include <algorithm>
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
  // Ansible's Task.get_search_path (the role's path, then the task file's directory unless
  // already there), expanded as DataLoader.path_dwim_relative_stack does: each path with
  // `subdir` then without, and the play's base dir (subdir, then itself) always last. Nothing
  // is deduplicated: Ansible's "Searched in" list repeats a directory when it appears twice
  // (a play task in the playbook's own directory lists base/files, base, base/files, base).
  std::vector<std::string> paths;
  if (role != nullptr && !role->path.empty()) paths.push_back(role->path);
  std::string task_dir;
  if (!task_file.empty()) {
    task_dir = DirName(task_file);
  } else if (role != nullptr && !role->path.empty()) {
    task_dir = absl::StrCat(role->path, "/tasks");
  } else {
    task_dir = play_base_dir;
  }
  if (!task_dir.empty() && std::find(paths.begin(), paths.end(), task_dir) == paths.end()) {
    paths.push_back(task_dir);
  }
  if (!play_base_dir.empty()) paths.push_back(play_base_dir);
  std::vector<std::string> out;
  for (const auto& dir : paths) {
    out.push_back(absl::StrCat(dir, "/", subdir));
    out.push_back(dir);
  }
  return out;
}

absl::StatusOr<std::string> FindControllerFile(const std::string& name,
                                               const std::vector<std::string>& search,
                                               const std::string& root) {
  std::vector<std::string> tried;
  if (!name.empty() && name[0] == '/') {
    tried.push_back(name);
  } else {
    // Also for `src: files/x` (DIR/files/files/x first): path_dwim_relative_stack means to
    // skip DIR/files then, but compares bytes with str, so under Python 3 it never does.
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
  // AnsibleFileNotFound's message; an absolute name has no "Searched in" list.
  std::string searched =
      name[0] == '/' ? "" : absl::StrCat("\nSearched in:\n\t", absl::StrJoin(tried, "\n\t"));
  return absl::NotFoundError(absl::StrCat("Could not find or access '", name, "'", searched,
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
