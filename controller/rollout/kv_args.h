#pragma once

// Ansible's `key=value` argument strings (ad-hoc `-a`, and free-form task arguments), parsed
// the way ansible.parsing.splitter.parse_kv does: shell-like quoting, and for the free-form
// modules (command, shell, raw, script) every token that is not one of their few k=v options
// stays part of `_raw_params`, verbatim.

#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tachyon::rollout {

// "a=1 b='x y'" -> {"a":"1","b":"x y"}. A string starting with '{' is taken as JSON.
absl::StatusOr<nlohmann::json> ParseModuleArgs(const std::string& module, const std::string& args);

// Ansible's split_args: splits on spaces and line breaks outside quotes and Jinja blocks,
// keeping the quotes, and keeping runs of spaces and line breaks on the token before them.
absl::StatusOr<std::vector<std::string>> SplitArgs(const std::string& args);

}  // namespace tachyon::rollout
