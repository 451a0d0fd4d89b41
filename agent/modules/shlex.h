#pragma once

// Python's shlex.split(s) (POSIX mode, no comments): how Ansible's command module turns a
// command string into argv. There is no shell: `;`, `$(...)`, backticks and newlines inside
// quotes are ordinary characters.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tachyon::modules {

// InvalidArgument "No closing quotation" / "No escaped character", as shlex raises.
absl::StatusOr<std::vector<std::string>> ShlexSplit(std::string_view s);

}  // namespace tachyon::modules
