#pragma once

// Module names as playbooks spell them: `command`, `ansible.builtin.command`,
// `ansible.legacy.command` are one module.

#include <string>

namespace tachyon {

// Drops an `ansible.builtin.` or `ansible.legacy.` prefix.
std::string ShortModuleName(const std::string& module);

// Modules whose arguments are a free-form command line (plus a few k=v options), whose text
// output reads best as `host | CHANGED | rc=0 >>`.
bool IsFreeFormModule(const std::string& module);

}  // namespace tachyon
