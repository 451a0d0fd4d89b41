#include "common/module_names.h"

namespace tachyon {

std::string ShortModuleName(const std::string& module) {
  for (const char* prefix : {"ansible.builtin.", "ansible.legacy."}) {
    const std::string p(prefix);
    if (module.compare(0, p.size(), p) == 0) return module.substr(p.size());
  }
  return module;
}

bool IsFreeFormModule(const std::string& module) {
  const std::string m = ShortModuleName(module);
  return m == "command" || m == "shell" || m == "raw" || m == "script";
}

}  // namespace tachyon
