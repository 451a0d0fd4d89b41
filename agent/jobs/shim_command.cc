#include <unistd.h>

#include "agent/jobs/job_engine.h"

namespace tachyon::jobs {

std::vector<std::string> DefaultShimCommand(const std::string& self_exe) {
  std::vector<std::string> candidates;
  // Installed: next to the daemon (/usr/bin/tachyon-shim).
  size_t slash = self_exe.rfind('/');
  if (slash != std::string::npos) candidates.push_back(self_exe.substr(0, slash) + "/tachyon-shim");
#ifdef TACHYON_BUILD_SHIM_PATH
  // A build tree: the controller's binary is not in the agent's directory.
  candidates.push_back(TACHYON_BUILD_SHIM_PATH);
#endif
  for (const auto& path : candidates) {
    if (::access(path.c_str(), X_OK) == 0) return {path, "__shim"};
  }
  return {self_exe, "__shim"};
}

}  // namespace tachyon::jobs
