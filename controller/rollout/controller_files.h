#pragma once

// Files a task reads on the controller: `copy: src=`, `template: src=`, `script:`. Ansible looks
// them up along a search path (the role's files/ or templates/, the task file's directory, the
// play's directory); tachyon does the same inside the uploaded bundle and refuses any path that
// leaves it, so a playbook can never read the controller's own files.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/rollout/playbook.h"

namespace tachyon::rollout {

// Where `name` may be, in Ansible's order. `subdir` is "files" (copy, script) or "templates".
std::vector<std::string> ControllerSearchPath(const std::string& subdir, const Role* role,
                                              const std::string& task_file,
                                              const std::string& play_base_dir);

// The first existing regular file of `search` + "/" + name (or `name` itself when absolute).
// NotFound with Ansible's "Could not find or access" message; PermissionDenied when the file
// resolves (symlinks included) outside `root` (empty root: no restriction).
absl::StatusOr<std::string> FindControllerFile(const std::string& name,
                                               const std::vector<std::string>& search,
                                               const std::string& root);

// Reads a file found by FindControllerFile, refusing ones larger than `max_bytes`.
absl::StatusOr<std::string> ReadControllerFile(const std::string& path, size_t max_bytes);

}  // namespace tachyon::rollout
